"""What happens otherwise: formal notices, threats, outages, loss of a client."""

from __future__ import annotations

FORMAL_NOTICES: tuple[str, ...] = (
    # French
    r"mise en demeure", r"(?:vous )?(?:mettons|met) en demeure", r"commandement de payer", r"injonction de payer",
    r"sommation de payer", r"assignation (?:en justice|devant|a comparaitre)", r"citation a comparaitre",
    r"decerner(?:a)? une contrainte", r"avis de mise en recouvrement", r"avis de (?:verification|controle) (?:fiscal|de comptabilite)",
    r"controle (?:fiscal|sur pieces)", r"proposition de rectification", r"redressement fiscal",
    r"signification (?:d'un jugement|d'acte)", r"proces-verbal de saisie",
    # English
    r"formal notice", r"letter before (?:action|claim)", r"notice of default", r"final demand", r"court summons",
    r"summons to appear", r"subpoena", r"cease and desist", r"tax (?:audit|assessment) notice",
)

# "Convocation" counts as a formal notice only beside an authority word.
SUMMONS: tuple[str, ...] = (r"convocation", r"convoquee?s?", r"summons", r"summoned")
AUTHORITIES: tuple[str, ...] = (
    r"impots?", r"inspect(?:eur|rice|or)", r"administration fiscale", r"dgi", r"tribunal", r"juge", r"audience",
    r"police", r"gendarmerie", r"controle", r"fisc", r"tax authority", r"court", r"judge", r"hearing",
    r"inspection du travail", r"prud'?hom\w*", r"urssaf", r"cnps",
)

CONSEQUENCES: tuple[str, ...] = (
    # French
    r"(?:sera|seront|serait|seraient) (?:definitivement |automatiquement |immediatement )?(?:suspendu|coupe|resilie|bloque|supprime|desactive|reporte|annule|perdu|rejete|refuse|retourne|transmis)e?s?",
    r"suspension", r"coupure", r"penalites?", r"majorations?", r"interets (?:de retard|moratoires)", r"contentieux",
    r"poursuites", r"procedure (?:judiciaire|d'injonction|de recouvrement|contentieuse)", r"recouvrement force",
    r"saisie", r"execution forcee", r"a defaut", r"faute de quoi", r"sans quoi", r"passe ce delai",
    r"sans (?:ce|cette|ces|votre|ta|reponse|retour|regularisation|paiement|reglement|confirmation|signature|lui)\b",
    r"ne (?:pourra|pourront|pourrons|pourrait) (?:pas |plus |y )?(?:etre|engager|lancer|partir|livrer|presenter|passer|traiter|examiner|mettre)",
    r"ne seront pas (?:examinees?|acceptees?|prises? en compte|mises? en paiement)", r"irrecevable",
    r"(?:nous )?perdons", r"nous perdrions", r"glisser(?:a|ait)?", r"(?:reporte|reportee|repousse) (?:au|a la|a|de)",
    r"non-conformite", r"taxation d'office", r"si nous ne recevons pas", r"serait reporte",
    r"(?:report|glissement) (?:au|a la|du projet)",
    # English
    r"(?:will|would) be (?:suspended|terminated|cancell?ed|closed|lost|rejected|delayed|blocked|disabled|deleted|moved|returned)",
    r"late (?:fees?|payment charges?)", r"penalt(?:y|ies)", r"legal action", r"collection agency", r"otherwise",
    r"failing (?:which|that)", r"if (?:we|you) (?:miss|don't|do not|fail)", r"unless", r"(?:we|you) (?:will|would) (?:lose|miss)",
    r"moves? to (?:the )?(?:next|q\d)", r"(?:won't|will not|cannot|can't) (?:be (?:processed|accepted|considered)|proceed|go ahead|leave)",
    r"(?:is|are) on hold", r"if we miss",
)

OUTAGES: tuple[str, ...] = (
    # French
    r"(?:ne|n') ?(?:fonctionne|fonctionnent|marche|marchent|repond|repondent|remonte|remontent|s'affiche|s'affichent|demarre|demarrent|arrive|arrivent) plus",
    r"plus aucune? [\w' -]{0,40}? ne", r"en panne", r"hors service", r"a l'arret", r"(?:est|sont) (?:tombee?s?|plantee?s?)",
    r"(?:site|serveur|application|plateforme|systeme|production|base|service|logiciel|flux)[\w' -]{0,30}? (?:est |sont )?(?:inaccessibles?|indisponibles?|en panne|bloquee?s?)",
    r"impossible de (?:se connecter|travailler|facturer|livrer|produire|acceder|encaisser|imprimer)",
    r"erreur (?:de synchronisation|critique|bloquante|500|fatale)", r"incident (?:majeur|critique|bloquant)",
    r"production (?:est )?(?:arretee|bloquee|a l'arret)", r"interruption (?:de|du) service", r"on ne sait pas quoi",
    r"nous ne pouvons (?:ni|plus)", r"(?:sont|est) bloquee?s? depuis",
    # English
    r"(?:is|are|went|has gone|have gone) down", r"outage", r"not working", r"stopped working", r"(?:has|have) stopped",
    r"(?:import|sync|service|system|server|site|app)\w* (?:is |has )?(?:stopped|failing|down|broken)",
    r"cannot (?:access|log in|connect|leave|ship|process|invoice)", r"can't (?:access|log in|connect|work)",
    r"(?:operations|production) (?:stopped|halted|blocked|down)", r"\bp1\b", r"sev(?:erity)? ?1", r"critical incident",
    r"service (?:unavailable|disruption)", r"(?:is|are) (?:unavailable|inaccessible|unreachable|offline)",
    r"no [\w-]+ (?:has|have) been (?:imported|processed|received|sent) since",
)

LOW_PRIORITY: tuple[str, ...] = (
    r"\bp[345]\b", r"(?:priority|priorite)\s*:?\s*(?:low|basse|faible|normale?)", r"no operational impact",
    r"sans impact (?:operationnel|sur la production)", r"low priority", r"pas urgent", r"aucune urgence",
    r"no rush", r"rien ne presse", r"not urgent", r"a votre convenance", r"at your convenience", r"quand vous (?:pourrez|aurez)",
    r"when you (?:can|get a chance)",
)

IMMEDIACY: tuple[str, ...] = (
    r"au plus vite", r"des que possible", r"asap", r"as soon as possible", r"immediatement", r"immediately",
    r"en urgence", r"urgently", r"sans delai", r"right away", r"d'urgence", r"dans l'heure", r"within the hour",
    r"tout de suite", r"des (?:ce matin|maintenant)", r"en priorite",
)

ACCOUNT_BLOCKED: tuple[str, ...] = (
    r"(?:carte|compte|acces|card|account)[\w' ]{0,30}? (?:a ete |est |has been |is )?(?:bloquee?|suspendue?|gelee?|blocked|suspended|frozen|locked)",
    r"faire opposition", r"operations? (?:inhabituelles?|suspectes?|frauduleuses?)", r"(?:tentatives?|transactions?) (?:de paiement )?(?:inhabituelles?|frauduleuses?)",
    r"unusual (?:activity|transactions?|payments?)", r"suspicious (?:activity|transactions?|payments?)", r"fraud(?:ulent)?",
    r"fraude",
)

CHURN: tuple[str, ...] = (
    r"ne (?:reconduirons|renouvellerons|prolongerons) pas", r"(?:resilier|rompre|mettre fin a|mettre un terme a) (?:le |notre |nos |au |a notre )?(?:contrat|collaboration|partenariat|relation)",
    r"(?:changer|change) de (?:prestataire|fournisseur)", r"(?:aupres )?d'autres (?:prestataires|fournisseurs)",
    r"examiner les alternatives", r"(?:terminate|cancel|end|not renew) (?:the |our )?(?:contract|agreement|partnership|collaboration|relationship)",
    r"(?:another|other|alternative) (?:vendors?|suppliers?|providers?)", r"take our business elsewhere", r"look(?:ing)? (?:at|for) alternatives",
    r"(?:will|shall) not renew",
)

TENDERS: tuple[str, ...] = (
    r"appel d'offres?", r"date limite de depot", r"depot des (?:offres|candidatures|dossiers)", r"cloture des soumissions",
    r"tender", r"request for proposals?", r"\brfp\b", r"bid (?:deadline|submission)",
)

ORDERS: tuple[str, ...] = (
    r"bon de commande", r"commande ferme", r"purchase order", r"\bpo\b (?:number|n)", r"order confirmation needed",
)
