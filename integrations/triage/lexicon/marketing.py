"""Marketing and cold outreach versus mail from services the company uses."""

from __future__ import annotations

PROMOTIONS: tuple[str, ...] = (
    # French
    r"offre (?:speciale|exclusive|limitee|promotionnelle|de lancement)", r"promo(?:tion)?s?", r"(?:remise|reduction|rabais) de",
    r"-\s?\d+ ?%", r"au lieu de", r"prix (?:special|exceptionnel|barre|casse)", r"black friday", r"cyber monday", r"soldes",
    r"places limitees", r"plus que \d+ places", r"derniers? jours", r"je (?:m'abonne|reserve|commande|profite|m'inscris)",
    r"(?:commandez|achetez|abonnez-vous|profitez|reservez)(?: des maintenant| vite| ici| maintenant)?",
    r"essai gratuit", r"offert(?:e|s)? (?:pour|a)", r"telechargez gratuitement",
    # English
    r"special offer", r"limited[- ]time", r"\d+ ?% off", r"instead of", r"discount", r"order now", r"buy now", r"shop now",
    r"sign up (?:now|today)", r"subscribe (?:now|today)", r"free (?:trial|report|demo)", r"act now", r"don't miss",
    r"exclusive (?:offer|deal)", r"best price", r"offer ends", r"while stocks last",
)

COLD_OUTREACH: tuple[str, ...] = (
    # French
    r"je me permets de vous (?:contacter|ecrire|solliciter)", r"j'ai (?:decouvert|trouve|remarque) [\w' ]{0,60}(?:annuaire|repertoire|linkedin|votre site)",
    r"(?:auriez-vous|avez-vous) (?:\d+|quelques|cinq|dix|quinze) minutes", r"(?:un|une) (?:appel|echange|rendez-vous|demo|demonstration) (?:de \d+ minutes|rapide|decouverte|gratuite?)",
    r"(?:notre|nos) (?:solution|offre|service|expertise|equipe)s? (?:permet|peut|peuvent|vous aide|sont pensees|est concue)",
    r"nous (?:aidons|accompagnons) (?:les|des) (?:pme|entreprises|cabinets)", r"n'ayant pas (?:eu|recu) de (?:retour|reponse)",
    r"sans (?:retour|reponse) de votre part", r"premiere page de google", r"referencement naturel",
    r"fichiers? de prospects", r"prospects qualifies", r"(?:augmenter|developper|booster) (?:votre|vos) (?:chiffre|ventes|clientele|visibilite)",
    r"sans engagement", r"audit gratuit", r"(?:rachetons|rachete) vos factures",
    # English
    r"i (?:came across|noticed|was checking|was looking at|found) (?:your|atelier|[\w-]+\.\w+)", r"quick question about",
    r"(?:do you have|got|have you got) (?:\d+|a few|five|ten|fifteen) minutes", r"(?:a|quick) (?:\d+[- ]minute )?(?:call|chat|demo) (?:this|next)",
    r"we (?:help|work with) (?:companies|businesses|firms|agencies|smbs?)", r"our (?:team|agency|platform|solution|software) (?:can|will|helps|found)",
    r"(?:get|rank) (?:you )?(?:on|to) (?:the )?(?:first )?page", r"\bseo\b", r"lead (?:lists?|generation)",
    r"verified (?:emails?|contacts?|decision[- ]makers?)", r"grow your (?:client|customer|business|sales)",
    r"following up on my (?:previous|last) (?:email|message)", r"just (?:following|circling) (?:up|back)", r"no[- ]obligation",
    r"free (?:audit|consultation)", r"guaranteed,? or you don't pay",
)

OPT_OUT: tuple[str, ...] = (
    r"si vous ne souhaitez plus (?:etre contacte|recevoir|etre sollicite)", r"(?:repondez|reply) [\"']?(?:stop|non merci|no thanks|unsubscribe)",
    r"(?:vous )?(?:desinscrire|desabonner)", r"se (?:desinscrire|desabonner)", r"desinscription", r"desabonnement", r"unsubscribe",
    r"opt[- ]out", r"don't want to hear from (?:me|us)", r"ne plus recevoir (?:nos|ces|de)",
)

UNSOLICITED_SOURCE: tuple[str, ...] = (
    r"(?:votre adresse|vos coordonnees)[\w' ]{0,40}(?:figure|figurent|apparait|a ete trouvee|a ete obtenue|collectee)[\w' ]{0,40}(?:fichier|annuaire|base|repertoire|liste)",
    r"listed in (?:public|business|online) director", r"(?:obtained|found) your (?:email|address|contact)",
    r"dans un annuaire (?:professionnel|en ligne)", r"communaute d'investisseurs", r"(?:votre adresse|your (?:email )?address) (?:a ete|has been|was) selectionnee?",
    r"(?:is|was) listed in", r"fichier de partenaires",
)

SOLICITATIONS: tuple[str, ...] = (
    r"(?:ce|cet) (?:message|courrier|e-?mail|document|avis) (?:est|constitue) une (?:sollicitation|offre commerciale)",
    r"(?:this|the) (?:message|letter|e-?mail|notice|document) is a solicitation", r"not a bill", r"(?:n'est pas|ne constitue pas) une facture",
    r"vaut (?:bon de )?commande", r"constitutes? (?:an|a binding) order", r"payment is voluntary", r"(?:renvoi|retour|signature) du formulaire[\w' ]{0,40}(?:vaut|constitue|engage)",
    r"we do not (?:host|manage) your", r"optional [\w -]{0,30}service",
)

# The mail says the recipient already uses the service or is its customer.
SERVICE_RELATIONSHIP: tuple[str, ...] = (
    # French
    r"en tant qu'(?:utilisat(?:eur|rice)|client(?:e)?|abonne(?:e)?|membre|adherent(?:e)?)",
    r"(?:votre|ton) (?:compte|espace(?: client)?|abonnement|formule|tableau de bord|identifiant client|numero client|compte marchand) (?!bancaire|sera|a ete|est)",
    r"vous recevez [\w' -]{0,50}(?:car|parce que) (?:vous etes (?:client|utilisat|abonne|inscrit)|vous avez (?:un compte|souscrit|active|cree)|les notifications|votre compte)",
    r"(?:notifications?|alertes?) (?:de paiement )?sont activees", r"identifiant client", r"numero client",
    # English
    r"as an? (?:user|customer|client|subscriber|member)", r"your (?:account|subscription|plan|workspace|dashboard|customer id) (?!will|has been|is)",
    r"you (?:are receiving|received) this (?:email|message) because you (?:have|signed|are|subscribed|opted)", r"customer (?:id|number)",
)
