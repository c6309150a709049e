"""Calendar words: months, weekdays, relative days, periods, deadline markers."""

from __future__ import annotations

MONTHS: dict[str, int] = {
    # French
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4, "mai": 5,
    "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "sept": 9, "octobre": 10, "novembre": 11,
    "decembre": 12, "dec": 12,
    # English ("mar" and "may" are left out: French weekday abbreviation and English modal verb)
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "april": 4, "apr": 4, "june": 6, "jun": 6,
    "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sep": 9, "october": 10, "oct": 10,
    "november": 11, "nov": 11, "december": 12,
}  # fmt: skip

WEEKDAYS: dict[str, int] = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip

# (pattern, days after the message date, default hour, default minute)
RELATIVE_DAYS: tuple[tuple[str, int, int, int], ...] = (
    # French
    (r"apres-demain", 2, 18, 0),
    (r"demain (?:matin|a la premiere heure)", 1, 9, 0),
    (r"demain (?:a )?midi", 1, 12, 0),
    (r"demain (?:en )?(?:fin de journee|soir)", 1, 18, 0),
    (r"demain (?:en )?(?:debut d')?apres-midi", 1, 14, 0),
    (r"demain", 1, 18, 0),
    (r"fin de (?:la )?journee", 0, 18, 0),
    (r"fin de (?:la )?matinee", 0, 12, 0),
    (r"dans la (?:journee|matinee)", 0, 18, 0),
    (r"aujourd'?hui|aujourd hui|ce jour", 0, 18, 0),
    (r"ce soir|cette nuit", 0, 20, 0),
    (r"cet apres-midi", 0, 17, 0),
    (r"ce matin", 0, 12, 0),
    (r"dans l'heure", 0, -1, 60),
    (r"des (?:reception|maintenant)|immediatement|sans delai|sur-le-champ", 0, 18, 0),
    # English
    (r"day after tomorrow", 2, 18, 0),
    (r"tomorrow (?:morning|first thing|am)", 1, 9, 0),
    (r"tomorrow (?:at )?noon|tomorrow midday", 1, 12, 0),
    (r"tomorrow (?:afternoon|pm)", 1, 14, 0),
    (r"tomorrow (?:evening|night|eod)", 1, 18, 0),
    (r"tomorrow", 1, 18, 0),
    (
        r"end of (?:the )?(?:business |working )?day|eod|cob|close of business|end of business",
        0,
        18,
        0,
    ),
    (r"today|tonight|this evening", 0, 18, 0),
    (r"this afternoon", 0, 17, 0),
    (r"this morning", 0, 12, 0),
    (r"within the hour", 0, -1, 60),
    (r"upon receipt|immediately|right away|without delay", 0, 18, 0),
)

# (pattern, kind) where kind is "this_week", "next_week", "month_end", "year_end", "next_month"
PERIODS: tuple[tuple[str, str], ...] = (
    (r"fin de (?:la )?semaine prochaine|end of next week", "next_week"),
    (r"semaine prochaine|next week", "next_week"),
    (r"fin de (?:la |cette )?semaine|end of (?:the |this )?week|cette semaine|this week", "this_week"),
    (r"fin (?:du|de ce) mois|end of (?:the |this )?month", "month_end"),
    (r"mois prochain|next month", "next_month"),
    (r"fin (?:de l')?annee|fin d'annee|end of (?:the )?year|year-end", "year_end"),
)

NOON = r"midi|noon|midday"
# Parts of a day after a date ("mardi 9 au matin"), with the hour they stand for.
TIMES_OF_DAY: dict[str, tuple[int, int]] = {
    "matin": (9, 0), "matinee": (9, 0), "apres-midi": (14, 0), "soir": (20, 0), "soiree": (20, 0),
    "morning": (9, 0), "afternoon": (14, 0), "evening": (20, 0),
}  # fmt: skip
MIDNIGHT = r"minuit|midnight"

# Words right before a date that make it a deadline ("avant 17h", "by Friday", "pour demain").
NEAR_MARKERS: tuple[str, ...] = (
    # French
    r"avant(?: le| la| l')?",
    r"d'ici(?: le| la| a)?",
    r"au plus tard(?: le| la)?",
    r"jusqu'(?:a|au|aux)(?: la| le)?",
    r"pour(?: le| la)?",
    r"des(?: le)?",
    r"sous",
    r"au-dela(?: du| de)?",
    # English
    r"by(?: the)?",
    r"before(?: the)?",
    r"until(?: the)?",
    r"till",
    r"no later than(?: the)?",
    r"not later than",
    r"within",
    r"on or before",
    r"at the latest",
)
# Words anywhere earlier in the sentence that make a date a deadline ("date limite : ...", "expires ...").
FAR_MARKERS: tuple[str, ...] = (
    # French
    r"date limite",
    r"limite",
    r"fixee?s? (?:a|au|pour)",
    r"depot des",
    r"remise des",
    r"echeance",
    r"expire",
    r"expirera",
    r"expiration",
    r"cloture",
    r"cloturera",
    r"clos",
    r"delai",
    r"attendue?s?",
    r"a rendre",
    r"a retourner",
    r"a remettre",
    r"a signer",
    r"a regler",
    # "Le dépôt ferme aujourd'hui à 12h00" (not "commande ferme"): the verb right before the date.
    r"ferme(?:ra|nt|ront)?(?=\s+(?:a\s+)?$)",
    r"a completer",
    r"au plus tard",
    r"d'ici",
    r"avant",
    # English
    r"due",
    r"deadline",
    r"expires?",
    r"expiring",
    r"closes?",
    r"closing",
    r"cut-?off",
    r"needed",
    r"required",
    r"no later than",
    r"before",
)

# Words that put a date in the past or make it a plain reference ("depuis 4h", "facture du 01/11").
PAST_MARKERS: tuple[str, ...] = (
    r"depuis",
    r"hier",
    # What happened earlier today: "nous l'avons appris ce matin", "reçu ce matin".
    r"appris",
    r"recue?s?",
    r"constatee?s?",
    r"decouverte?s?",
    r"learn(?:ed|t)",
    r"noticed",
    r"discovered",
    r"dernier",
    r"derniere",
    r"passee le",
    r"emise le",
    r"datee? du",
    r"a ete",
    r"ont ete",
    r"since",
    r"yesterday",
    r"last",
    r"was",
    r"were",
    r"dated",
    r"issued on",
    r"opened",
)

# Cities named in a context file's location, and their time zones.
CITY_TIME_ZONES: dict[str, str] = {
    "abidjan": "Africa/Abidjan", "dakar": "Africa/Dakar", "bamako": "Africa/Bamako", "ouagadougou": "Africa/Ouagadougou",
    "lome": "Africa/Lome", "cotonou": "Africa/Porto-Novo", "niamey": "Africa/Niamey", "conakry": "Africa/Conakry",
    "douala": "Africa/Douala", "yaounde": "Africa/Douala", "libreville": "Africa/Libreville", "kinshasa": "Africa/Kinshasa",
    "accra": "Africa/Accra", "lagos": "Africa/Lagos", "casablanca": "Africa/Casablanca", "rabat": "Africa/Casablanca",
    "tunis": "Africa/Tunis", "alger": "Africa/Algiers", "paris": "Europe/Paris", "lyon": "Europe/Paris",
    "marseille": "Europe/Paris", "bruxelles": "Europe/Brussels", "brussels": "Europe/Brussels", "geneve": "Europe/Zurich",
    "montreal": "America/Toronto", "quebec": "America/Toronto", "london": "Europe/London", "londres": "Europe/London",
    "new york": "America/New_York",
}  # fmt: skip

NUMBER_WORDS: dict[str, int] = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
    "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "quinze": 15, "vingt": 20, "trente": 30,
    "quarante-huit": 48, "soixante-douze": 72,
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-eight": 48,
    "seventy-two": 72,
}  # fmt: skip

# (pattern, unit) for durations such as "sous 48h", "within 3 business days"
DURATION_UNITS: tuple[tuple[str, str], ...] = (
    (r"minutes?|mins?", "minutes"),
    (r"h|hrs?|heures?|hours?", "hours"),
    (r"jours? ouvres|jours? ouvrables|business days?|working days?", "business_days"),
    (r"jours?|days?|j", "days"),
    (r"semaines?|weeks?", "weeks"),
)
DURATION_LEADS: tuple[str, ...] = (
    r"sous",
    r"dans",
    r"d'ici",
    r"en moins de",
    r"dans un delai de",
    r"dans les",
    r"au plus tard dans",
    r"within",
    r"in",
    r"in the next",
    r"within the next",
    r"under",
    r"less than",
    r"target",
    r"delai de",
)
FIXED_DURATIONS: dict[str, int] = {"sous huitaine": 8, "sous quinzaine": 15, "sous huit jours": 8}

# Named time zones written in mail ("16h00 (heure d'Abidjan)", "10am GMT").
TIME_ZONES: dict[str, str] = {
    "gmt": "UTC", "utc": "UTC", "heure de paris": "Europe/Paris", "paris time": "Europe/Paris",
    "heure francaise": "Europe/Paris", "cest": "Europe/Paris",
    "heure d'abidjan": "Africa/Abidjan", "abidjan time": "Africa/Abidjan", "heure de dakar": "Africa/Dakar",
    "heure de bruxelles": "Europe/Brussels", "heure de montreal": "America/Toronto",
    "heure du quebec": "America/Toronto", "heure de l'est": "America/New_York",
    "edt": "America/New_York", "eastern time": "America/New_York", "wat": "Africa/Lagos",
    "heure de douala": "Africa/Douala", "heure de lagos": "Africa/Lagos", "heure d'accra": "Africa/Accra",
}  # fmt: skip
