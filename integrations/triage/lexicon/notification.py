"""Automated notices and everyday requests: auto-replies, calendar replies, resolutions, price changes."""

from __future__ import annotations

# The sender's own plans: dates in these sentences are not the reader's deadlines.
SCHEDULES: tuple[str, ...] = (
    # French
    r"livraison prevue",
    r"(?:sera|seront|sont|est) (?:livree?s?|expediee?s?|installee?s?|effectuee?s?|realisee?s?|remise?s?)",
    r"aura lieu",
    r"auront lieu",
    r"arrivera",
    r"arriveront",
    r"interviendra",
    r"(?:prevue?s?|programmee?s?|planifiee?s?) (?:le|pour|a|entre|ce|demain|lundi|mardi|mercredi|jeudi|vendredi|samedi)",
    # English
    r"will be (?:delivered|shipped|installed|performed|carried out|dispatched)",
    r"(?:delivery|arrival|installation|maintenance|shipment) (?:is )?(?:scheduled|planned|expected)",
    r"scheduled (?:for|on)",
    r"will arrive",
    r"takes? place",
)

AUTO_REPLY_SUBJECTS: tuple[str, ...] = (
    r"automatic reply",
    r"auto(?:matic)?[- ]?reply",
    r"autoreply",
    r"reponse automatique",
    r"absence du bureau",
    r"absent(?:e)?",
    r"out of (?:the )?office",
    r"message d'absence",
    r"en conges?",
)
AUTO_REPLY_BODIES: tuple[str, ...] = (
    r"je suis (?:actuellement )?(?:absente?|en conges?|en deplacement)",
    r"i am (?:currently )?(?:out of the office|away|on leave|travelling|traveling)",
    r"i'm (?:currently )?(?:out of the office|away|on leave)",
    r"will (?:only )?(?:check|read) (?:my )?(?:e-?mails?|inbox)",
    r"ne lirai mes (?:courriels|messages|e-?mails)",
    r"de retour le",
    r"back (?:on|in the office)",
)

CALENDAR_REPLY_SUBJECTS: tuple[str, ...] = (
    r"accepte",
    r"accepted",
    r"refuse",
    r"declined",
    r"provisoire",
    r"tentative",
    r"tentatively accepted",
    r"nouvelle heure proposee",
    r"new time proposed",
    r"accepte provisoirement",
)
CALENDAR_INVITE_SUBJECTS: tuple[str, ...] = (
    r"invitation",
    r"updated invitation",
    r"invitation mise a jour",
    r"nouvel evenement",
    r"new event",
)

RESOLVED: tuple[str, ...] = (
    # French
    r"(?:est|a ete|sont|ont ete) (?:resolue?s?|retablie?s?|corrigee?s?|reparee?s?)",
    r"fonctionne (?:de nouveau|a nouveau|normalement)",
    r"tourne (?:de nouveau|a nouveau|normalement)",
    r"(?:ticket|incident|demande) (?:est )?(?:clos|cloture|ferme|resolu)",
    r"est cloture",
    r"(?:status|statut)\s*:\s*(?:resolved|closed|resolue?|clos|cloture|retabli|deposee?|filed|submitted)",
    r"\[(?:resolved|resolu|clos)\]",
    r"plus rien ne presse",
    r"(?:probleme|incident) (?:est )?regle",
    r"aucune donnee n'a ete perdue",
    r"rentre dans l'ordre",
    # The threat itself is withdrawn: "la suspension prévue demain a été annulée".
    r"(?:suspension|coupure|resiliation|fermeture|mise en demeure)[\w' :,/-]{0,60}(?:a ete|est) (?:annulee|levee|suspendue|retiree)",
    r"(?:dossier|affaire|litige) (?:est|a ete) (?:clos|cloture|classe)\b",
    # Done already: the thing the message is about has been carried out.
    r"c'est deja fait",
    r"(?:nous accusons|accuse) reception de votre (?:virement|paiement|reglement)",
    r"reglement recu",
    r"(?:a|ont) (?:deja )?ete (?:execute|effectue|traite|honore|regle|solde)e?s?\b",
    r"(?:a|ont) deja ete deposee?s?\b",
    r"declarations? [\w' ]{0,40}(?:a|ont) ete deposee?s?",
    r"deposee?s? dans les delais",
    r"accuse de reception de (?:la |votre )?(?:declaration|paiement|reglement|depot)",
    r"(?:est|sont) (?:deja )?(?:execute|effectue|honore|solde)e?s?\b",
    r"(?:est|sont) deja deposee?s?\b",
    r"(?:nous avons|j'ai) deja (?:depose|transmis|regle|paye|effectue|execute)\b",
    r"statut (?:resolu|clos|cloture|ferme)",
    # English
    r"(?:has been|is|was|have been) (?:resolved|fixed|restored)",
    r"back to normal",
    r"(?:suspension|cut-?off|termination|closure|disconnection)[\w' :,/-]{0,60}(?:has been|was|is) (?:cancell?ed|lifted|withdrawn|called off)",
    r"working (?:again|normally)",
    r"(?:ticket|incident|case) (?:has been |is )?(?:closed|resolved)",
    r"no longer urgent",
    r"all (?:systems|services) operational",
    r"(?:has|have) (?:already )?been (?:executed|processed|completed|filed|settled|honou?red)",
    r"(?:we have|we've|i have|i've) already (?:filed|paid|submitted|sent|done)",
    r"(?:it's|this is|that's) already (?:done|taken care of|handled)",
    r"we (?:have )?received your payment",
    r"payment (?:has|have) been (?:released|made|sent|credited|transferred|executed)",
    r"(?:ont|a) retrouve (?:leurs?|son|l') ?acces",
    r"(?:sont|est) (?:bien )?(?:remontee?s?|repartie?s?|revenue?s?) (?:dans|a la normale|en ligne)",
)

PRICE_CHANGES: tuple[str, ...] = (
    r"(?:prices?|pricing|rates?|tariffs?) (?:for [\w' ]{0,40})?will (?:change|increase|rise|go up)",
    r"(?:evolution|hausse|augmentation|modification|changement|revision) (?:de |des )?(?:nos |vos )?(?:tarifs|prix|conditions tarifaires)",
    r"nouveaux tarifs",
    r"(?:tarifs?|prix|abonnements?|forfaits?|offres?) [\w' ]{0,40}(?:evolue|evoluera|evoluent|evolueront) (?:au|a compter|des|le|en)\b",
    r"(?:price|pricing) (?:change|increase|update)",
    r"new (?:prices|pricing|rates)",
    r"(?:tarifs|prices) (?:evolueront|will (?:change|increase))",
    r"(?:nos |les )?(?:tarifs|prix) (?:augmenteront|augmentent|baisseront|passeront|seront (?:revises|augmentes|modifies))",
    r"(?:our )?(?:prices|rates|fees) (?:are going up|will go up|will rise|rise)",
)

APPLICATIONS: tuple[str, ...] = (
    r"candidature",
    r"(?:je vous adresse|veuillez trouver) (?:ma|mon) (?:candidature|cv)",
    r"lettre de motivation",
    r"(?:job )?application for",
    r"(?:apply|applying) for",
    r"(?:would|'d) (?:like|love) to apply",
    r"(?:souhaite|souhaiterais|aimerais) (?:postuler|candidater)",
    r"(?:je )?(?:postule|candidate) (?:a|au|pour)",
    r"my (?:cv|resume)",
    r"curriculum vitae",
    r"poste de",
)

QUOTE_REQUESTS: tuple[str, ...] = (
    r"demande (?:de |d')(?:devis|offre|soumission|cotation|prix|proposition)",
    r"(?:recevoir|obtenir|nous faire parvenir|envoyer) (?:une|votre) (?:offre|devis|soumission|proposition|cotation)",
    r"(?:request for|requesting) (?:a )?(?:quote|quotation|proposal)",
    r"(?:send|give|provide) (?:us |me )?(?:a )?(?:quote|quotation|proposal|estimate)",
    r"offre de prix",
)

MEETING_CHANGES: tuple[str, ...] = (
    r"ne pourrai (?:donc )?pas (?:tenir|assurer|honorer) (?:notre|le|la) (?:point|reunion|rendez-vous|rdv|entretien)",
    r"decalage (?:a|au|du) (?:point|lundi|mardi|mercredi|jeudi|vendredi)",
    r"report(?:er)? (?:de )?(?:notre|le|la) (?:point|reunion|rendez-vous|rdv|call|visio|entretien)",
    r"(?:annuler|decaler|deplacer|reprogrammer|reporter) (?:notre|le|la) (?:point|reunion|rendez-vous|rdv|entretien)",
    r"(?:proposer|trouver) un (?:autre |nouveau )?creneau",
    r"reschedul\w*",
    r"(?:move|postpone|cancel) (?:our|the) (?:meeting|call)",
    r"new (?:slot|time)",
)
