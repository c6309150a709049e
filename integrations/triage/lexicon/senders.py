"""Who mail claims to come from: free-mail hosts, sending platforms, brands, company words."""

from __future__ import annotations

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail", "googlemail", "yahoo", "ymail", "hotmail", "outlook", "live", "msn", "aol", "icloud", "me", "mac",
        "gmx", "web", "proton", "protonmail", "pm", "yandex", "mail", "zoho", "laposte", "orange", "free", "sfr",
        "wanadoo", "libero", "tutanota", "fastmail", "hey", "mailbox", "freemail", "inbox",
    }
)  # fmt: skip
# Parts of a host name that suggest a personal mailbox service when the name is not listed above.
FREE_MAIL_HINTS: tuple[str, ...] = ("mail", "box", "boite", "inbox")

# Signing and notification platforms that write on behalf of someone else ("X via Signéo").
VIA_PATTERNS: tuple[str, ...] = (
    r"\bvia\b",
    r"\bpar l'intermediaire de\b",
    r"\bon behalf of\b",
    r"\bde la part de\b",
)

# Brands that phishing imitates; a display name carrying one should come from the brand's own domain.
BRANDS: tuple[str, ...] = (
    "dhl",
    "fedex",
    "ups",
    "chronopost",
    "colissimo",
    "la poste",
    "paypal",
    "microsoft",
    "office 365",
    "outlook",
    "google",
    "apple",
    "icloud",
    "amazon",
    "netflix",
    "facebook",
    "meta",
    "whatsapp",
    "instagram",
    "linkedin",
    "docusign",
    "dropbox",
    "wetransfer",
    "orange money",
    "mtn",
    "moov",
    "wave",
    "western union",
    "moneygram",
    "visa",
    "mastercard",
    "stripe",
    "adobe",
    "zoom",
    "yousign",
    "ovh",
    "godaddy",
)

# Words in a display name that claim an organisation rather than a person.
COMPANY_WORDS: tuple[str, ...] = (
    r"sarl",
    r"sas",
    r"sa",
    r"ltd",
    r"inc",
    r"gmbh",
    r"llc",
    r"banque",
    r"bank",
    r"cabinet",
    r"service",
    r"support",
    r"equipe",
    r"team",
    r"direction",
    r"comptabilite",
    r"accounting",
    r"billing",
    r"facturation",
    r"securite",
    r"security",
    r"caisse",
    r"groupe",
    r"group",
    r"agence",
    r"agency",
    r"fondation",
    r"foundation",
    r"notaire",
    r"avocats?",
    r"tresor",
)
