"""What phishing and scams ask for: credentials, fees, gift cards, secret transfers."""

from __future__ import annotations

CREDENTIALS: tuple[str, ...] = (
    # French
    r"(?:saisi(?:r|ssez|ssant)|entre[rz]|renseigne[rz]|indique[rz]|communique[rz]|confirme[rz]|envoye[rz]|fournir|fournissez|transmettre|transmettez|verifie[rz]|identifie[rz][- ]vous|connectez[- ]vous|vous connecter|se connecter)[\w' ,.-]{0,70}?(?:identifiants?|mot de passe|mots de passe|code (?:recu|sms|confidentiel|pin|secret|de (?:validation|verification|securite|confirmation))|codes? (?:d'acces|pin)|numero de carte|cryptogramme|informations (?:de paiement|bancaires|de connexion))",
    r"identifiez[- ]vous (?:avec|sur)",
    r"munissez[- ]vous de (?:votre|vos) (?:identifiants?|mot de passe|codes?|carte)",
    r"have your (?:password|login|credentials|card|pin)[\w' ,]{0,30}(?:ready|at hand|handy)",
    r"(?:en vous (?:identifiant|connectant)|vous identifier|s'identifier)[\w' ,]{0,70}?(?:mot de passe|identifiants?)",
    r"mot de passe (?:de|a) votre (?:messagerie|boite|compte de messagerie|adresse)",
    r"(?:verifiez|confirmez|reactivez|debloquez|mettez a jour|mettre a jour|verifier|confirmer|reactiver|debloquer) (?:votre|vos) (?:compte|identite|acces|informations de paiement|coordonnees (?:bancaires|de paiement))",
    # English
    r"(?:enter|confirm|verify|provide|update|submit|send|re-?enter)[\w' ,]{0,50}?(?:password|credentials|login details|\bpin\b|one-time code|\botp\b|verification code|security code|card (?:number|details)|payment (?:details|information))",
    r"(?:log|sign) in (?:with|using) your",
    r"(?:reply|respond) with your (?:card|bank|account|login|password|pin)",
    r"(?:log|sign) in (?:now |here )?to (?:restore|unlock|reactivate|verify|confirm|secure|lift)",
    r"connectez-vous (?:ici |maintenant )?pour (?:le |la |les |votre |vos )?(?:debloquer|reactiver|retablir|verifier|confirmer|securiser|lever)",
    r"(?:repondez|repondre) (?:en indiquant|avec) (?:votre|vos) (?:numero de carte|coordonnees bancaires|identifiants|code)",
    r"your (?:email|mailbox|webmail) password",
    r"verify your (?:account|identity|mailbox|email)",
    r"(?:validate|reactivate|unlock|restore) your (?:account|mailbox|access)",
)

# Card data, when a sentence asks for it: no bank, authority or supplier asks for a card's number,
# expiry date or security code by email ("indiquez le numéro de votre carte bancaire, sa date
# d'expiration et son cryptogramme"). A receipt showing "numéro de carte : **** 4242" asks nothing.
CARD_DATA: tuple[str, ...] = (
    r"(?:numero|coordonnees|informations|donnees|details) (?:de|d'une) (?:(?:votre|la|sa|ta) carte(?! grise| d'identite| de sejour| vitale| professionnelle| d'embarquement| de fidelite| de visite| d'acces)|carte (?:bancaire|de credit|de paiement))",
    r"(?:votre|la) carte bancaire sur laquelle",
    # An expiry date only beside a card ("la date d'expiration de votre contrat" is not card data).
    r"carte[\w' ,]{0,40}date d'expiration|date d'expiration de (?:votre|la|ta) carte",
    r"cryptogramme",
    r"\b(?:cvv|cvc)\b",
    r"(?:card|credit card) (?:number|details)|card[\w' ,]{0,40}(?:expiry|expiration) date|card security code",
)

# Sentences that contain these are disclaimers ("we will never ask for your codes").
NEGATIONS: tuple[str, ...] = (
    r"jamais",
    r"never",
    r"ne (?:vous )?(?:demanderons|demandera|demandent|demande) (?:jamais|pas)",
    r"will not ask",
    r"won't ask",
    r"n'ont pas change",
    r"n'a pas change",
    r"have not changed",
    r"has not changed",
    r"unchanged",
    r"ne (?:partagez|communiquez|transmettez) (?:jamais|pas)",
    r"do not share",
    r"don't share",
)

PAY_LINKS: tuple[str, ...] = (
    r"payer (?:les frais|maintenant|en ligne|ici|par carte)",
    r"regle[rz]? [\w' ]{0,40}?(?:en ligne|via le lien|par le lien)",
    r"(?:payer|regler|reglez|payez)[\w' ]{0,40}?(?:sur|via|par) (?:le|ce) lien",
    r"lien (?:securise|de paiement)",
    r"mettre a jour (?:vos|votre) (?:informations|moyen|coordonnees) de paiement",
    r"informations de paiement",
    r"pay (?:now|online|here|the fee|the invoice online)",
    r"payment link",
    r"update (?:your )?(?:payment|billing) (?:details|information|method)",
    r"(?:renouvelez|renouveler|renew)[\w' ]{0,30}?(?:en ligne|online|maintenant|now)",
    r"(?:payer|regler|payez|reglez|pay|settle)[\w' ]{0,60}:?\s*<?(?:https?://|www\.)",
    r"(?:payer|regler|payez|reglez|pay|settle) [\w' ,.$]{0,60}?(?:ici|here|below|ci-dessous)\s*:?\s*<?(?:https?://|www\.)",
)

# Pretexts of credential phishing: full mailbox, expiring password, held messages, shared documents.
LURES: tuple[str, ...] = (
    r"(?:boite (?:mail|aux lettres|de reception)|messagerie) (?:est )?(?:pleine|saturee)",
    r"mailbox (?:is )?(?:full|over quota)",
    r"storage quota",
    r"(?:mot de passe|password) (?:expire|will expire|expires)",
    r"keep (?:your )?(?:current|same) password",
    r"conserver (?:votre|le meme) mot de passe",
    r"messages? (?:en attente|bloques|retenus|non (?:delivres|distribues))",
    r"(?:pending|held|undelivered) (?:messages?|emails?)",
    r"(?:document|fichier|facture) (?:partage|securise) (?:avec vous)?",
    r"shared (?:a )?(?:document|file) with you",
    r"voicemail|message vocal",
    r"(?:verify|validate) your (?:mailbox|account)",
    r"(?:validez|verifiez) votre (?:messagerie|boite)",
    r"(?:connexion|sign-in|login) (?:inhabituelle|suspecte|unusual|suspicious)",
    r"unusual sign-in",
    r"(?:your )?account (?:has been|is|was) (?:limited|restricted|on hold)",
    r"(?:votre )?compte (?:a ete |est )?(?:limite|restreint)",
)

FEES_TO_RELEASE: tuple[str, ...] = (
    r"frais (?:de (?:dossier|dedouanement|douane|conformite|deblocage|liberation))",
    # Transfer or delivery fees only with an amount to pay, not in a price list ("les frais de
    # transfert passent de 0,8 % à 0,7 %").
    r"frais (?:de (?:transfert|traitement|livraison|change)) (?:de |d'un montant de |: ?|s'elevant a )?(?:\d|[$€£])",
    r"frais a (?:regler|payer)",
    r"(?:processing|transfer|release|clearance) (?:and (?:transfer|processing) )?fee[\w$€ .,]{0,40}before (?:the )?release",
    r"(?:pour|afin de) (?:liberer|debloquer|recevoir|reclamer) (?:les fonds|vos gains|votre colis|le virement|votre argent)",
    r"retenue? (?:en douane|par notre service)",
    r"customs (?:fees?|duties|charges)",
    r"held (?:at|in|by) customs",
    r"duties (?:of|payable|must be paid|due)",
    r"(?:processing|release|clearance|handling|compliance) fee",
    r"to (?:release|claim|receive) (?:the|your) (?:funds|parcel|package|prize|winnings|transfer)",
)

# Payments that cannot be traced back or recalled: money transfer to a phone number or by wire service.
UNTRACEABLE_PAYMENTS: tuple[str, ...] = (
    r"(?:transfert|envoi|paiement|versement) (?:d'argent )?(?:mobile|par (?:orange money|wave|mtn|moov|free money|mobile money|western union|moneygram))",
    r"(?:orange money|wave|mobile money|momo)[\s:]*(?:au|to)?\s*\+?\d{2,}",
    r"(?:send|transfer) (?:the )?(?:money|funds|payment) (?:by|via|through) (?:mobile money|western union|moneygram)",
)

GIFT_CARDS: tuple[str, ...] = (
    r"cartes? cadeaux?",
    r"gift ?cards?",
    r"cartes? (?:itunes|google play|amazon|steam)",
    r"(?:coupons?|recharges?) (?:pcs|transcash|neosurf)",
)

CONFIDENTIAL_TRANSFER: tuple[str, ...] = (
    r"(?:virement|transfert|paiement)s? (?:\w+ ){0,3}?(?:confidentiel|discret)",
    r"strictement confidentiel",
    r"n'en (?:parle[rz]?|parlez) a personne",
    r"n'en parlez pas",
    r"(?:confidential|discreet|secret) (?:wire|transfer|payment)",
    r"keep (?:this|it) (?:confidential|between us)",
    r"(?:je suis |i am |i'm )?(?:injoignable|indisponible|unreachable) (?:par|by|on the) (?:telephone|phone)",
    r"repondez uniquement (?:a|par) (?:ce|cet) (?:mail|e-?mail|courriel)",
    r"(?:operation|affaire|dossier|demande|mission) (?:\w+ )?(?:urgente? et )?confidentiel(?:le)?",
    r"(?:ne peux|ne pourrai|ne suis) pas (?:etre )?(?:joint|joignable|telephoner)",
    r"(?:can't|cannot|can not) (?:take|answer) (?:calls|the phone)",
    r"reply only (?:to|by|via) (?:this )?e-?mail",
    r"(?:etes-vous|es-tu) (?:au bureau|disponible)\s*\?",
    r"are you (?:at|in) the office\s*\?",
)

BANK_CHANGE: tuple[str, ...] = (
    r"(?:nouvelles?|nouveau|changement de|modification de|mise a jour de nos) (?:coordonnees bancaires|rib|iban|compte bancaire|domiciliation bancaire)",
    r"(?:nos|mes) coordonnees bancaires ont change",
    r"(?:new|updated|change of|change in|changed) (?:bank (?:details|account)|iban|banking details)",
    r"(?:our|my) bank details have changed",
)

LOTTERY: tuple[str, ...] = (
    r"(?:vous avez|you have|you've) (?:gagne|won)",
    r"loterie",
    r"lottery",
    r"tirage (?:au sort|electronique)",
    r"heureux gagnant",
    r"lucky winner",
    r"reclamer (?:vos|votre) gains?",
    r"claim your (?:prize|winnings)",
    r"heritage de",
    r"(?:has|have) won (?:the sum|a (?:prize|sum|cash)|usd|us\$|\$|eur|€)",
    r"(?:votre|your) (?:adresse (?:e-?mail|electronique)|e-?mail address|e-?mail) (?:a ete|was|has been) (?:selectionnee|tiree|selected|drawn)",
    r"(?:process|traiter) (?:your|votre) (?:claim|reclamation|dossier de gain)",
    r"(?:awards?|prize|lotto|loto) draw",
    r"inheritance",
    # Paid "awards": "selected by our international panel as a winner … pay the certification fee".
    r"(?:selected|chosen|nominated) [\w' ]{0,60}as (?:a |the )?winner",
    r"winner(?:'s)? (?:form|package|fee)",
    r"(?:a ete|avez ete) (?:selectionnee?|choisie?|designee?)s? [\w' ]{0,60}(?:comme )?(?:laureate?|gagnante?)s?",
)

INVESTMENT_SCAM: tuple[str, ...] = (
    r"rendement garanti",
    r"guaranteed (?:returns?|profits?|income)",
    r"sans (?:aucun )?risque",
    r"risk[- ]free",
    r"robot de trading",
    r"trading (?:bot|robot)",
    r"crypto\w*",
    r"bitcoins?",
    r"multiplie (?:par|x) ?\d+",
    r"(?:multiplied|grown) (?:by )?\d+x?",
    r"\+\s?\d+ ?% par (?:semaine|jour|mois)",
    r"\d+ ?% (?:per|a|every) (?:week|day|month)",
    r"\d+(?:[.,]\d+)? ?% (?:weekly|daily|monthly|hebdomadaires?|par semaine|quotidiens?)",
    r"(?:only )?\d+ (?:partner |investor )?(?:spots?|places?|seats?) (?:left|remaining|restantes?)",
    r"doublez (?:votre|vos)",
    r"double your",
    r"retrait instantane",
    r"gagne[rz] jusqu'a",
    r"(?:travaille[rz]|gagne[rz] [\w' ]{0,40}?) depuis (?:chez vous|votre domicile|la maison)",
    r"sans (?:aucune )?experience (?:requise|necessaire)?",
    r"earn up to",
    r"(?:work|working) from home",
    r"no experience (?:needed|required)",
)
