"""Readings added after measuring the offline classifier on fresh held-out mail: each test is one
situation from the label guide, in French or English, that the rules used to get wrong."""

from __future__ import annotations

from datetime import datetime

from integrations.mime import ParsedEmail
from integrations.triage import OfflineClassifier, Priority, TriageContext
from integrations.triage.deadline import find_deadlines
from integrations.triage.sender import lookalike_of
from integrations.triage.text import fold
from tests.triage_support import CONTEXT, MONDAY_9, message

classify = OfflineClassifier().classify


def _priority(email: ParsedEmail, context: TriageContext = CONTEXT) -> Priority:
    return classify(email, context).priority


def test_hard_wrapped_lines_read_as_one_sentence() -> None:
    line = "Pour le dossier, la direction souhaite un court rapport. Si"
    assert fold(line + "\nvous pouvez") == fold(line) + " vous pouvez"
    # A short line, a list item or a new capitalised line keeps its break.
    assert fold("Total :\n- 12") == "total :\n- 12"
    assert fold("Bonjour Awa,\nMerci") == "bonjour awa,\nmerci"
    wrapped = message(
        "Aminata Diop <a.diop@sgt-transit.test>",
        "RE: Rapport d'incident",
        "Bonjour Khady,\n\nLe portail fonctionne de nouveau, merci. Pour le dossier, la direction souhaite un\n"
        "court rapport d'incident ; une page suffit. Si\nvous pouvez nous l'envoyer d'ici lundi prochain, "
        "ce sera parfait.\n\nAminata",
    )
    assert _priority(wrapped) is Priority.IMPORTANT


def test_a_served_writ_stays_critical_when_the_email_says_it_is_for_information() -> None:
    writ = message(
        "Étude de Maître Ndiaye, commissaire de justice <etude@ndiaye-huissier.test>",
        "Signification – commandement de payer aux fins de saisie-vente",
        "Madame,\n\nUn commandement de payer aux fins de saisie-vente a été signifié ce jour à votre siège. "
        "Vous disposez de huit jours pour régler 2 122 500 FCFA. Passé ce délai, il pourra être procédé à la "
        "saisie de vos biens.\n\nLe présent courriel vous est adressé à titre d'information.",
    )
    assert _priority(writ) is Priority.CRITICAL


def test_a_regulator_summons_is_a_formal_notice() -> None:
    summons = message(
        "Autorité de protection des données <controles@apdp.test>",
        "Convocation à une audition",
        "Madame la Gérante,\n\nVous êtes convoquée à une audition le mardi 10 mars 2026 à 10h00 au siège de "
        "l'Autorité. Vous voudrez bien vous munir du registre des traitements.",
    )
    assert _priority(summons) is Priority.CRITICAL


def test_a_stranger_with_a_known_client_in_copy_and_a_stated_consequence_is_critical() -> None:
    body = (
        "Dear Ms Mbaye,\n\nWe are the statutory auditors of Northwind Traders. Our closing meeting is tomorrow "
        "at 09:00. If the evidence is not in our hands by then, we will have to report the control as not "
        "tested.\n\nExports from your ticketing tool are sufficient.\n\nBest regards,\nClaire"
    )
    copied = message(
        "Claire Marchetti <c.marchetti@moreau-audit.test>", "Missing evidence", body, Cc="tom@northwind.test"
    )
    result = classify(copied, CONTEXT)
    assert result.priority is Priority.CRITICAL and "known party in copy" in result.reasons
    alone = message("Claire Marchetti <c.marchetti@moreau-audit.test>", "Missing evidence", body)
    assert _priority(alone) is Priority.IMPORTANT


def test_a_threat_pointing_back_by_then_takes_the_time_before_it() -> None:
    email = message(
        "Tom <tom@northwind.test>",
        "RE: Pilot go-live",
        "Hi Khady,\n\nOne more thing. The steering committee signs off at 5 pm today. If the signed addendum is "
        "not back by then, the go-live is taken off the agenda.\n\nThanks,\nTom",
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.CRITICAL
    assert result.deadline is not None and result.deadline.hour == 17


def test_a_reply_saying_the_outage_is_fixed_is_not_an_outage() -> None:
    email = message(
        "Aminata Diop <a.diop@sgt-transit.test>",
        "RE: URGENT - le portail ne fonctionne plus",
        "Bonjour Khady,\n\nJe confirme : tout est rentré dans l'ordre depuis 11h. Pourriez-vous nous envoyer "
        "une proposition de supervision avant la fin du mois ?\n\nAminata",
    )
    assert _priority(email) is Priority.IMPORTANT


def test_a_date_the_sender_waives_is_not_the_deadline() -> None:
    email = message(
        "Aminata Diop <a.diop@sgt-transit.test>",
        "Date de mise en ligne ?",
        "Bonjour Khady,\n\nPouvez-vous tenir une mise en ligne le 2 avril ? Pas besoin de réponse aujourd'hui : "
        "dites-moi d'ici vendredi.\n\nMerci !",
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.IMPORTANT
    assert result.deadline is not None and result.deadline.day == 6


def test_rien_ne_presse_holds_a_same_day_reading() -> None:
    email = message(
        "Aminata Diop <a.diop@sgt-transit.test>",
        "Question sur la facture F-031",
        "Bonjour,\n\nPouvez-vous vérifier la facture F-031 et m'envoyer une facture rectifiée ? Nous la réglerons "
        "dès réception ; l'échéance est au 15 avril, donc rien ne presse.",
    )
    assert _priority(email) is Priority.IMPORTANT


def test_a_clean_strangers_plain_request_due_today_with_a_consequence_is_critical() -> None:
    email = message(
        "Dr Mendy <pharmacie@chr-ziguinchor.test>",
        "Livraison d'oxygène attendue hier",
        "Bonjour,\n\nLe camion n'est pas arrivé. Pouvez-vous nous indiquer avant 18h où se trouve le chargement ? "
        "Si la livraison ne peut pas avoir lieu demain, je dois organiser le transfert des patients.",
    )
    assert _priority(email) is Priority.CRITICAL


def test_a_data_leak_on_a_site_we_maintain_is_an_incident() -> None:
    email = message(
        "RSSI GHT <rssi@ght-hopitaux.test>",
        "Exposition de données patients",
        "Bonjour,\n\nLa page de confirmation du module que votre agence maintient affiche les données d'autres "
        "patients : c'est une violation de données. Nous avons besoin de la désactivation du module ce matin. "
        "Merci de m'appeler dès réception.",
    )
    assert _priority(email) is Priority.CRITICAL


def test_already_done_notices_are_informative() -> None:
    done = message(
        "Fiduciaire Sarr <social@fiduciaire-sarr.test>",
        "Rappel : échéance du 4 mars - déclaration déposée",
        "Bonjour,\n\nVoici le rappel de l'échéance des cotisations fixée au mercredi 4 mars. Pour votre dossier, "
        "c'est déjà fait : le prélèvement a été effectué le 27 février.",
    )
    assert _priority(done) is Priority.INFORMATIVE
    executed = message(
        "Banque du Fleuve <avis@banquedufleuve.test>",
        "Avis d'exécution - virement groupé",
        "Votre ordre de virement groupé a été exécuté. Les bénéficiaires recevront les fonds sous 24 heures.",
    )
    assert _priority(executed) is Priority.INFORMATIVE
    remittance = message(
        "Northwind Accounts Payable <ap-noreply@northwind.test>",
        "Payment advice",
        "Dear Supplier,\n\nPlease be informed that the following payment has been released to your bank "
        "account. Funds should reach your account within two business days.",
    )
    assert _priority(remittance) is Priority.INFORMATIVE


def test_a_supposed_filing_is_not_a_done_one() -> None:
    notice = message(
        "Centre des impôts <sie@impots.test>",
        "Mise en demeure - déclaration de TVA non déposée",
        "Madame,\n\nVotre déclaration de TVA n'a pas été reçue. Nous vous mettons en demeure de la déposer sous "
        "30 jours. Si la déclaration a été déposée entre-temps, ne tenez pas compte de ce courrier.",
    )
    assert _priority(notice) is Priority.CRITICAL


def test_an_unlisted_suppliers_bill_with_a_due_date_is_important() -> None:
    bill = message(
        "Coworking Plateau – Facturation <facturation@coworking-plateau.test>",
        "Facture F-2026-0214 – bureaux mars",
        "Bonjour,\n\nVeuillez trouver ci-joint la facture F-2026-0214 de votre contrat de services. Échéance : "
        "12 mars 2026. Paiement par virement sur notre compte habituel.",
    )
    assert _priority(bill) is Priority.IMPORTANT


def test_fees_in_a_price_list_are_not_fees_to_release_funds() -> None:
    newsletter = message(
        "KoloPay Business <lettre@news.kolopay.test>",
        "Votre lettre KoloPay – nouveaux frais",
        "Bonjour,\n\nLes frais de transfert vers un compte bancaire passent de 0,8 % à 0,7 % au 1er avril. "
        "Ces changements s'appliquent automatiquement : aucune action n'est requise de votre part.\n\n"
        "Vous recevez cet e-mail car vous êtes client KoloPay Business.",
        List_Unsubscribe="<https://kolopay.test/unsubscribe>",
    )
    assert _priority(newsletter) is Priority.INFORMATIVE
    scam = message(
        "Service Colis <colis@livraison-express.test>",
        "Votre colis est en attente",
        "Votre colis est retenu. Réglez les frais de livraison de 2,99 € ici : https://pay.colis-express.test/x",
    )
    assert _priority(scam) is Priority.SPAM


def test_cold_outreach_with_a_short_meeting_ask_is_spam() -> None:
    email = message(
        "Bastien <bastien@leadflow-prospection.test>",
        "Khady, 40 rendez-vous qualifiés par mois ?",
        "Bonjour Khady,\n\nChez LeadFlow, nous générons pour des cabinets comme le vôtre 25 à 40 rendez-vous "
        "qualifiés par mois. Seriez-vous disponible 15 minutes jeudi ?\n\nPour ne plus recevoir nos messages, "
        "répondez STOP.",
    )
    assert _priority(email) is Priority.SPAM


def test_a_known_domain_used_as_a_label_of_another_domain_is_a_lookalike() -> None:
    assert lookalike_of("banquedufleuve.fr-alerte.test", "banquedufleuve.test")
    assert not lookalike_of("mail.banquedufleuve.test", "banquedufleuve.test")


# Round 3 (fresh sets K–R): readings that did not exist before.


def test_a_notice_that_warns_against_an_interruption_reports_no_outage() -> None:
    bill = message(
        "CloudOuest Facturation <facturation@cloudouest.test>",
        "Votre facture CO-2026-118 est disponible – échéance le 12/03/2026",
        "Bonjour,\n\nVotre facture CO-2026-118 de 310 000 FCFA est disponible. Merci d'effectuer votre virement "
        "avant la date d'échéance. Pour éviter toute interruption de service, veillez à régler vos factures à "
        "échéance.\n\nL'équipe Facturation",
    )
    assert _priority(bill) is Priority.IMPORTANT


def test_data_of_other_customers_shown_by_our_system_is_an_incident_even_from_a_personal_address() -> None:
    leak = message(
        "Moussa Kane <moussa.kane.perso@webmail.test>",
        "Portail de suivi : nos clients voient les commandes d'autres clients",
        "Bonjour Khady,\n\nJe suis le nouveau responsable informatique de la SGT ; ma messagerie n'est pas encore "
        "ouverte. Depuis ce matin, le portail que votre équipe a développé affiche à nos clients les commandes "
        "d'autres clients, avec leurs adresses. Pouvez-vous m'appeler dans l'heure ?\n\nMoussa Kane",
    )
    assert _priority(leak) is Priority.CRITICAL


def test_a_personal_address_with_the_client_in_copy_is_vouched_for() -> None:
    email = message(
        "Awa Fall <awa.fall.dakar@webmail.test>",
        "Conteneur frigorifique – enlèvement aujourd'hui",
        "Bonjour,\n\nJ'ai repris la logistique de l'hôtel lundi ; M. Sy est en copie. La prise du conteneur "
        "frigorifique a lâché cette nuit. Il nous faudrait la mainlevée dans l'heure : au-delà de midi, tout le "
        "lot est à détruire.\n\nAwa Fall",
        Cc="m.sy@almadies-hotel.test",
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.CRITICAL and "known party in copy" in result.reasons


def test_a_filing_receipt_quoting_its_deadline_is_informative() -> None:
    receipt = message(
        "DGID e-services <ne-pas-repondre@edgid.test>",
        "Accusé de réception – déclaration TVA de février",
        "ACCUSÉ DE RÉCEPTION\n\nDate limite de dépôt : 28/02/2026 (reportée au 02/03/2026)\nDate de dépôt : 02/03/2026 à 08:41\n"
        "Déposée par : FIDUCIAIRE SARR (mandataire)\nStatut : déposée – conforme\n\nLe présent accusé fait foi du "
        "dépôt dans les délais. Aucune action n'est requise de votre part.\n\nMessage automatique, merci de ne "
        "pas répondre.",
        Cc="declarations@fiduciaire-sarr.test",
    )
    assert _priority(receipt) is Priority.INFORMATIVE


def test_a_newsletter_that_answers_its_own_question_asks_nothing() -> None:
    news = message(
        "Kanbo <news@kanbo.test>",
        "November update: invoices, contracts and deadline reminders",
        "Hi Khady,\n\nInvoices now come straight from timesheets, and deadline reminders can fire today or any "
        "day.\n\nDo I need to do anything? No. Everything is already switched on.\n\nYou are receiving this "
        "email because you are an admin of a Kanbo workspace.",
        List_Unsubscribe="<https://kanbo.test/unsubscribe>",
    )
    assert _priority(news) is Priority.INFORMATIVE


def test_what_was_learned_this_morning_is_not_a_deadline() -> None:
    email = message(
        "Tom <tom@northwind.test>",
        "Re: Avenant n°2 – signature",
        "Bonjour Khady,\n\nLe financeur a repoussé au 20 mars la date limite de dépôt, nous l'avons appris ce "
        "matin. Inutile donc de signer l'avenant dans la précipitation ; un retour signé d'ici le 16 mars nous "
        "convient.\n\nTom",
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.IMPORTANT
    assert result.deadline is not None and result.deadline.day == 16


def test_not_urgent_today_moves_the_deadline_to_the_date_asked() -> None:
    for body in (
        "Rien d'urgent aujourd'hui, mais pourriez-vous me préparer d'ici la fin de la semaine prochaine un "
        "rétroplanning des documents à réunir ?",
        "Je précise qu'il ne s'agit pas d'une urgence pour aujourd'hui. Pouvez-vous me faire parvenir un plan "
        "d'action d'ici le vendredi 13 mars ?",
        "To be clear, nothing is needed today: if we could have the twelve certificates by 11 March, that "
        "would be perfect.",
    ):
        email = message("Tom <tom@northwind.test>", "Plan d'action", "Bonjour Khady,\n\n" + body + "\n\nTom")
        result = classify(email, CONTEXT)
        assert result.priority is Priority.IMPORTANT, body
        assert result.deadline is not None and result.deadline.day > 2, body


def test_for_your_information_does_not_cancel_the_request_that_follows() -> None:
    email = message(
        "Tom <tom@northwind.test>",
        "Lenteurs du module de facturation – escalade",
        "Bonjour Khady,\n\nPour votre information, j'ai remonté ce matin le sujet des lenteurs à notre "
        "direction. La direction souhaite un diagnostic écrit. Pouvez-vous me le faire parvenir d'ici le "
        "mercredi 11 mars ?\n\nTom",
    )
    assert _priority(email) is Priority.IMPORTANT


def test_a_client_threat_to_end_the_contract_from_a_personal_address_is_critical() -> None:
    email = message(
        "Ibrahima Sow <ibrahima.sow@webmail.test>",
        "Notre collaboration",
        "Madame Mbaye,\n\nJe reprends la direction de l'Hôtel Les Almadies et vous écris depuis mon adresse "
        "personnelle. Ce matin encore, la synchronisation des réservations que vous avez mise en place ne "
        "répondait plus. Je ne vais pas tourner autour du pot : si je n'ai pas, demain avant midi, un plan "
        "concret, je mets fin au contrat de maintenance et je confie le système à un autre prestataire.\n\n"
        "Ibrahima Sow",
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.CRITICAL
    assert result.deadline is not None and (result.deadline.day, result.deadline.hour) == (3, 12)


def test_a_hearing_or_an_inspection_tomorrow_is_a_formal_notice() -> None:
    hearing = message(
        "Me Aïda Ba <a.ba@ba-avocats.test>",
        "Affaire Diallo c/ Mbaye Conseil – audience de demain",
        "Chère Madame,\n\nLe greffe me confirme que l'affaire est appelée à l'audience de demain à 8h30. "
        "Votre comparution, ou celle d'un représentant muni d'un pouvoir, est requise. Il me faut les pièces "
        "d'ici ce soir 18h.\n\nMe Ba",
    )
    inspection = message(
        "Inspection régionale du travail <controle@irt-dakar.test>",
        "Notification de contrôle",
        "Madame la Gérante,\n\nUn contrôle de votre établissement sera effectué par mes services demain à 8h30. "
        "La présence du chef d'établissement ou d'un représentant mandaté est requise.\n\nLe chef de service",
    )
    assert _priority(hearing) is Priority.CRITICAL
    assert _priority(inspection) is Priority.CRITICAL


def test_a_deadline_named_as_such_counts_inside_a_sentence_about_an_event() -> None:
    buyer = message(
        "Cellule des marchés – Mairie <marches@mairie-plateau.test>",
        "AO n° 2026-017 – pièces manquantes",
        "Madame, Monsieur,\n\nVotre dossier de soumission est incomplet : l'attestation fiscale est expirée. "
        "Nous vous rappelons que la date limite de remise des offres est fixée au 02/03/2026 à 15h00, heure à "
        "laquelle aura lieu l'ouverture des plis. Tout dossier incomplet à l'ouverture des plis sera déclaré "
        "irrecevable.\n\nLe chef de la cellule",
    )
    assert _priority(buyer) is Priority.CRITICAL


def test_a_cut_with_a_stated_duration_is_planned_work_not_a_threat() -> None:
    works = message(
        "SCI Fleuve – Gestion <gestion@fiduciaire-sarr.test>",
        "Travaux électriques en avril",
        "Madame,\n\nDes travaux électriques auront lieu en avril ; le courant sera coupé à l'étage pendant "
        "environ trois heures à chaque intervention. Pourriez-vous nous indiquer d'ici le vendredi 13 mars les "
        "créneaux qui vous conviennent ?\n\nLa gestion",
    )
    assert _priority(works) is Priority.IMPORTANT


def test_an_accident_to_one_of_our_trainees_reported_by_a_stranger_is_critical() -> None:
    email = message(
        "Ousmane Diouf <ousmane.diouf@webmail.test>",
        "Accident de votre stagiaire sur notre site",
        "Madame Mbaye,\n\nUn de vos stagiaires a chuté d'un escabeau cet après-midi ; il a été transporté au "
        "centre hospitalier. Pourriez-vous prévenir sa famille et me rappeler ce soir ?\n\nOusmane Diouf",
    )
    assert _priority(email) is Priority.CRITICAL


def test_nothing_to_validate_on_your_side_is_not_a_request() -> None:
    fyi = message(
        "Moussa <moussa@mbaye-conseil.test>",
        "Planning des astreintes de décembre – pour info",
        "Khady,\n\nPour info, j'ai finalisé le planning des astreintes de décembre ; il est dans le dossier "
        "partagé.\n\nRien à valider de ton côté : on a repris la même répartition que l'an dernier.\n\nMoussa",
    )
    assert _priority(fyi) is Priority.INFORMATIVE


def test_a_prize_draw_that_asks_for_bank_details_and_a_release_fee_is_spam() -> None:
    scam = message(
        "International Email Awards Board <claims@global-award.test>",
        "Congratulations! Your email address has won USD 850,000.00",
        "ATTN: WINNER\n\nYour email address was selected in our 2026 International Email Awards draw and has won "
        "the sum of USD 850,000.00.\n\nTo process your claim, send your full name, bank name and account number. "
        "A small processing and transfer fee of USD 350 is required before release of funds.\n\nMrs Linda Tan",
        Reply_To="richard.hollis@freemail-box.test",
    )
    assert _priority(scam) is Priority.SPAM


def test_an_inspection_visit_tomorrow_requiring_your_presence_is_a_formal_notice() -> None:
    visit = message(
        "Ministère de la Santé – Inspections <inspections@sante.test>",
        "Notification de mission d'inspection",
        "Madame,\n\nJ'ai l'honneur de vous informer qu'une équipe d'inspection de la Direction se rendra dans "
        "votre établissement demain à partir de 08h30.\n\nVotre présence, ou celle d'un médecin dûment mandaté "
        "par vous, est requise pendant toute la durée de la visite.\n\nLe chef du service",
    )
    assert _priority(visit) is Priority.CRITICAL


def test_a_known_client_needing_the_signed_amendment_tomorrow_morning_or_else_is_critical() -> None:
    email = message(
        "Tom <tom@northwind.test>",
        "Re: Avenant n°2",
        "Bonjour Khady,\n\nVoici l'avenant dans sa version définitive. Le directeur le présente au comité demain "
        "à 10h ; j'ai donc besoin de l'exemplaire signé, scanné, au plus tard demain à 9h. Si je ne l'ai pas, "
        "le dossier sera rouvert en consultation.\n\nTom",
    )
    assert _priority(email) is Priority.CRITICAL


def test_a_future_date_after_du_is_a_deadline_and_a_past_one_is_not() -> None:
    reminder = message(
        "Tom <tom@northwind.test>",
        "2e relance – pièces en anomalie",
        "Bonjour Khady,\n\nIl n'y a pas d'urgence immédiate. En revanche, les pièces corrigées doivent nous "
        "parvenir avant notre clôture comptable du 13 mars ; à défaut, les montants seront rejetés.\n\nTom",
    )
    result = classify(reminder, CONTEXT)
    assert result.priority is Priority.IMPORTANT
    assert result.deadline is not None and (result.deadline.month, result.deadline.day) == (3, 13)
    receipt = message(
        "Tom <tom@northwind.test>",
        "Votre facture du 12/02",
        "Bonjour Khady,\n\nNous avons bien reçu le règlement de votre facture du 12/02. Merci.\n\nTom",
    )
    assert classify(receipt, CONTEXT).deadline is None


def test_a_newsletter_sent_to_the_company_as_a_user_of_the_tool_is_informative() -> None:
    news = message(
        "RDVSanté Pro <news@rdvsante-pro.test>",
        "Novembre chez RDVSanté : facturation en ligne et contrats types",
        "Bonjour,\n\nNouveau : générez vos factures depuis la fiche de rendez-vous. Profitez des nouveaux "
        "modèles de contrats. Pensez à ouvrir vos agendas de janvier avant le 20 décembre.\n\nVous recevez "
        "cette lettre en tant que cabinet utilisateur de RDVSanté Pro. Pour ne plus la recevoir, désabonnez-vous "
        "<https://rdvsante-pro.test/desabonnement>.",
        List_Unsubscribe="<https://rdvsante-pro.test/desabonnement>",
    )
    assert _priority(news) is Priority.INFORMATIVE


# Round 4 readings.


def test_a_refund_that_asks_for_card_details_is_phishing_and_a_receipt_showing_a_card_is_not() -> None:
    refund = message(
        "Service des impôts <remboursements@impots-avis-remboursement.test>",
        "Avis de remboursement : 212 000 FCFA vous sont dus",
        "Madame,\n\nUn trop-perçu de 212 000 FCFA vous est dû. Pour le recevoir, veuillez remplir le "
        "formulaire en ligne en indiquant le numéro de votre carte bancaire et sa date d'expiration : "
        "http://impots-avis-remboursement.test/form\n\nSans demande sous 72 heures, le remboursement est annulé.",
    )
    assert _priority(refund) is Priority.SPAM
    receipt = message(
        "Boutique Kaolack <ventes@boutique-kaolack.test>",
        "Votre reçu de paiement",
        "Merci pour votre achat.\n\nMontant : 18 000 FCFA\nNuméro de carte : **** 4242\nDate d'expiration : "
        "**/**\n\nCe reçu vous est envoyé automatiquement.",
    )
    assert _priority(receipt) is Priority.INFORMATIVE


def test_a_receipt_for_fees_already_paid_asks_for_no_fee() -> None:
    receipt = message(
        "Guichet unique du port <no-reply@guichet-port.test>",
        "Reçu n° 55120",
        "REÇU\n\nObjet : frais de dossier et redevance d'inspection\nMontant payé : 42 000 FCFA\n"
        "Moyen : virement\n\nCe reçu tient lieu de justificatif. Message automatique.",
    )
    assert _priority(receipt) is Priority.INFORMATIVE


def test_a_shared_file_notice_asking_to_log_in_with_the_e_mail_password_is_phishing() -> None:
    notice = message(
        "Moussa Fall (via DocBox) <no-reply@docbox-partage.test>",
        "Moussa Fall vous a partagé un document",
        "Moussa Fall a partagé un document avec vous : Bon_de_commande.pdf\n\n"
        "Ouvrir : https://docbox-partage.test.secure-login.test/view\n\n"
        "Connectez-vous avec votre adresse e-mail professionnelle et son mot de passe pour le consulter.",
    )
    assert _priority(notice) is Priority.SPAM


def test_a_third_party_need_due_today_with_its_consequence_is_critical() -> None:
    hospital = message(
        "Service des admissions – Clinique du Cap <admissions@clinique-du-cap.test>",
        "M. Ousmane Ba – prise en charge employeur",
        "Bonjour,\n\nM. Ousmane Ba, salarié de votre société, a été admis ce matin après un accident sur un "
        "chantier. L'intervention est prévue à 16h. La clinique a besoin avant 13h aujourd'hui d'une lettre "
        "de prise en charge de l'employeur ; sans ce document, l'intervention devra être reportée.\n\n"
        "Le service des admissions",
    )
    assert _priority(hospital) is Priority.CRITICAL


def test_rien_a_faire_after_something_tried_means_in_vain_not_no_action() -> None:
    outage = message(
        "Ibrahima Sow <ibrahima@sgt-transit.test>",
        "les bons de livraison n'arrivent plus",
        "Khady, depuis ce matin les bons de livraison n'arrivent plus dans l'entrepôt. J'ai relancé le "
        "serveur deux fois, rien à faire. Les camions partent à 11h, il faut que quelqu'un regarde tout de "
        "suite.\n\nIbrahima",
    )
    assert _priority(outage) is Priority.CRITICAL


def test_an_option_described_as_rien_a_faire_does_not_cancel_the_choice_asked() -> None:
    prices = message(
        "CloudOuest <annonces@cloudouest.test>",
        "Évolution de vos tarifs au 1er juin – votre choix avant le 15 mai",
        "Bonjour,\n\nVos tarifs évoluent au 1er juin : le serveur passe de 60 000 à 72 000 FCFA par mois.\n\n"
        "- Option A : rester en mensuel au nouveau tarif (rien à faire) ;\n"
        "- Option B : passer à l'engagement annuel au tarif actuel.\n\n"
        "Pour l'option B, répondez à ce message avant le 15 mai.",
        date=MONDAY_9,
        List_Unsubscribe="<mailto:unsubscribe@cloudouest.test>",
    )
    assert _priority(prices) is Priority.IMPORTANT


def test_a_senders_own_summons_is_not_a_formal_notice_for_us() -> None:
    moved = message(
        "Awa Ndiaye <awa.ndiaye@northwind.test>",
        "Point mensuel déplacé",
        "Bonjour Khady,\n\nJe dois annuler notre point de demain : je suis convoquée au ministère du commerce "
        "pour notre agrément. Pouvez-vous me proposer un autre créneau la semaine prochaine ? Rien ne presse.\n\n"
        "Awa",
    )
    assert _priority(moved) is Priority.IMPORTANT


def test_a_confirmation_that_asks_for_no_reply_is_informative_even_with_an_agenda() -> None:
    confirmed = message(
        "Secrétariat – Hôtel Les Almadies <secretariat@almadies-hotel.test>",
        "Confirmation – comité de suivi jeudi 9h",
        "Bonjour Madame Mbaye,\n\nJe vous confirme le comité de suivi jeudi de 9h à 11h, salle Gorée, comme "
        "convenu. Vous trouverez l'agenda ci-joint. Inutile de me répondre, ce message vaut simple "
        "confirmation.\n\nBien cordialement",
        calendar="BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nBEGIN:VEVENT\r\nSUMMARY:Comité de suivi\r\n"
        "DTSTART:20260305T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    assert _priority(confirmed) is Priority.INFORMATIVE


def test_a_weekday_then_en_fin_de_journee_is_one_deadline() -> None:
    report = message(
        "Ibrahima Sow <ibrahima@sgt-transit.test>",
        "URGENT : rapport pour le comité",
        "Khady, le comité est avancé à jeudi. Il me faut le rapport au plus tard mercredi en fin de journée. "
        "Merci !\n\nIbrahima",
    )
    result = classify(report, CONTEXT)
    assert result.priority is Priority.IMPORTANT
    assert result.deadline is not None and result.deadline.date().isoformat() == "2026-03-04"


# Round 5 (2026-11-22): six fresh sets of 40 (16 critical each), AE–AH opened, AI–AJ held out.


def test_a_formal_notice_recalling_what_was_paid_before_it_stays_critical() -> None:
    notice = message(
        "Maître Fatou Sall <f.sall@sall-avocats.test>",
        "Hôtel Teranga c/ Mbaye Conseil - Mise en demeure",
        "Madame,\n\nJ'interviens pour le compte de l'Hôtel Teranga. Par contrat du 5 janvier, votre cabinet "
        "s'est engagé à livrer l'audit au plus tard le 15 février ; un acompte de 5 000 € a été réglé le "
        "6 janvier.\n\nEn conséquence, je vous mets en demeure de livrer l'audit dans un délai de huit jours, "
        "ou de restituer l'acompte. À défaut, ma cliente saisira le tribunal de commerce.\n\nFatou Sall, avocate",
    )
    assert _priority(notice) is Priority.CRITICAL
    lifted = message(
        "Maître Fatou Sall <f.sall@sall-avocats.test>",
        "Hôtel Teranga c/ Mbaye Conseil - Mise en demeure",
        "Madame,\n\nJe fais suite à la mise en demeure du 20 février. Ma cliente a reçu l'audit ce matin : la "
        "mise en demeure est levée et le dossier est clos.\n\nFatou Sall, avocate",
    )
    assert _priority(lifted) is not Priority.CRITICAL


def test_je_vous_mets_en_demeure_is_a_formal_notice() -> None:
    notice = message(
        "Me Clarisse Diouf <c.diouf@scp-diouf.test>",
        "Convention de prestations n° 2025-07",
        "Madame,\n\nJ'interviens en qualité de conseil de la Mutuelle des Enseignants. Je vous mets en demeure "
        "de transmettre l'intégralité des rapports au plus tard le lundi 30 mars. À défaut, les pénalités "
        "prévues à l'article 14 seront appliquées.\n\nMe Clarisse Diouf",
    )
    assert _priority(notice) is Priority.CRITICAL


def test_a_tax_audit_convocation_from_an_office_des_recettes_is_a_formal_notice() -> None:
    summons = message(
        "Office Sénégalais des Recettes - Direction des Grandes Entreprises <dge@osr.test>",
        "Convocation - exercices 2024 et 2025",
        "Madame la Gérante,\n\nDans le cadre de la vérification de comptabilité de votre société, vous êtes "
        "convoquée le lundi 9 mars à 9h00, bureau 214. Vous vous présenterez munie des grands livres et des "
        "relevés bancaires de la période.\n\nLe chef de brigade",
    )
    assert _priority(summons) is Priority.CRITICAL


def test_a_labour_inspection_visit_announced_is_a_summons() -> None:
    visit = message(
        "Inspection du travail - section 4 <section4@itss.test>",
        "Contrôle de votre établissement",
        "Madame la Gérante,\n\nL'inspection du travail procédera à une visite de votre établissement le jeudi "
        "12 mars à 9h30. Je vous demande de tenir à ma disposition le registre unique du personnel et les "
        "contrats de travail en cours.\n\nL'inspectrice du travail",
    )
    assert _priority(visit) is Priority.CRITICAL


def test_a_domain_expiring_tonight_saying_what_stops_is_critical() -> None:
    expiring = message(
        "CloudOuest Domains <domains@cloudouest.test>",
        "Action required: mbaye-conseil.test expires today at 23:59",
        "Hello,\n\nThe automatic renewal of your domain failed this morning: the card on file has expired.\n\n"
        "When a domain expires, every service that depends on it stops: your website and all your e-mail "
        "addresses.\n\nTo keep your services running, please authorise the renewal before 18:00 today by "
        "replying to this message.\n\nCloudOuest Domains",
        Auto_Submitted="auto-generated",
    )
    assert _priority(expiring) is Priority.CRITICAL


def test_an_introduced_prospects_order_lapsing_today_with_the_money_lost_after_is_critical() -> None:
    order = message(
        "Kofi Mensah <kofi@coldchain-gh.test>",
        "Firm order - introduced by Northwind",
        "Dear Ms Mbaye,\n\nYour client Northwind, copied here, suggested I contact you. Our board approved a "
        "firm order of 18,000,000 FCFA for the same audit. The order is funded by a grant whose window "
        "closes tonight: I need your written acceptance of the attached terms before 17:00 today. After "
        "that the grant money is lost and the project goes back to next year's budget.\n\nKofi Mensah",
        Cc="Awa Ndiaye <awa.ndiaye@northwind.test>",
    )
    assert _priority(order) is Priority.CRITICAL


def test_a_colleague_reporting_a_hacked_mailbox_with_todays_list_is_critical() -> None:
    hacked = message(
        "Moussa Faye <moussa@mbaye-conseil.test>",
        "Re: Nouvelle messagerie",
        "Khady,\n\nLa boîte compta@ a été piratée cette nuit : elle a servi à envoyer à nos clients une fausse "
        "facture avec un nouveau RIB. J'ai changé le mot de passe. Il faut maintenant, aujourd'hui :\n"
        "- valider le message d'alerte aux clients ;\n- prévenir la banque.\n\nMoussa",
    )
    assert _priority(hacked) is Priority.CRITICAL


def test_a_rejected_transfer_with_the_ways_to_send_it_today_is_critical() -> None:
    rejected = message(
        "Ousmane Ba - Banque du Fleuve <o.ba@banquedufleuve.test>",
        "Rejet de votre virement - droits de douane",
        "Madame Mbaye,\n\nVotre ordre de virement de 12 000 000 FCFA au profit du Trésor public a été rejeté ce "
        "matin : la seconde signature manque. Les conteneurs doivent être enlevés aujourd'hui.\n\nPour que le "
        "paiement parte aujourd'hui (dernier traitement à 15h00), vous pouvez :\n- passer à l'agence avec "
        "l'ordre signé par les deux signataires ;\n- ou me renvoyer cet ordre signé et scanné.\n\nOusmane Ba",
    )
    assert _priority(rejected) is Priority.CRITICAL


def test_a_suspension_the_reply_says_is_cancelled_is_informative() -> None:
    cancelled = message(
        "CloudOuest Billing <billing@cloudouest.test>",
        "Re: Final notice - invoice 4471 overdue - suspension scheduled 03/03/2026 12:00",
        "Dear Khady Mbaye,\n\nWe have received your transfer this morning and the invoice is marked as paid.\n\n"
        "The suspension scheduled for tomorrow at 12:00 has been cancelled. There is nothing further you need "
        "to do.\n\nCloudOuest Accounts",
    )
    assert _priority(cancelled) is Priority.INFORMATIVE


def test_a_meeting_that_was_postponed_is_news_and_no_need_to_hurry_waives_today() -> None:
    later = message(
        "Awa Ndiaye <awa.ndiaye@northwind.test>",
        "RE: Avenant n°2 - signature",
        "Bonjour Khady,\n\nBonne nouvelle : le comité de ce matin a été reporté au jeudi 5 mars. Inutile donc "
        "de vous presser : vous pouvez nous retourner l'avenant signé jusqu'au mercredi 4 mars au soir.\n\nAwa",
    )
    assert _priority(later) is Priority.IMPORTANT


def test_an_offer_whose_price_evolves_is_a_price_change() -> None:
    prices = message(
        "Lagune Télécom Entreprises <entreprises@lagune-telecom.test>",
        "Votre offre Fibre Pro évolue au 1er avril",
        "Madame Mbaye,\nCompte client : LT-0088412\n\nNous vous remercions de votre fidélité. Le tarif de "
        "l'offre Fibre Pro évoluera à compter du 1er avril : 65 000 FCFA HT par mois au lieu de 55 000 FCFA HT.\n\n"
        "Si ces nouvelles conditions ne vous conviennent pas, vous pouvez, avant le 15 mars, passer sans frais "
        "à l'offre Fibre Essentiel ou résilier sans pénalité.\n\nLagune Télécom - Service Entreprises",
    )
    assert _priority(prices) is Priority.IMPORTANT


def test_would_need_to_know_by_a_date_is_an_ask() -> None:
    follow_up = message(
        "Dr Yaw Boateng <y.boateng@sunrise-imaging.test>",
        "Following up: partnership proposal",
        "Dear Ms Mbaye,\n\nI am following up on the proposal I sent last month. We are finalising our April rota "
        "and would need to know by Friday 13 March whether you would like to start with the pilot.\n\n"
        "Best regards,\nYaw Boateng",
    )
    assert _priority(follow_up) is Priority.IMPORTANT


def test_a_paid_award_is_a_scam() -> None:
    award = message(
        "Global Business Excellence Awards <nominations@gbe-awards.test>",
        "Congratulations! Mbaye Conseil selected for the 2026 Excellence Award",
        "Dear Ms Mbaye,\n\nWe are delighted to inform you that Mbaye Conseil has been selected by our "
        "international panel as a winner of the Best Consultancy 2026 award. To confirm your award, please "
        "complete the winner form and pay the certification fee of USD 1,450 within 72 hours.\n\n"
        "Confirm my award: https://gbe-awards.test/confirm\n\nThe Selection Committee",
    )
    assert _priority(award) is Priority.SPAM


def test_a_tax_audit_mentioned_in_passing_is_no_formal_notice() -> None:
    fees = message(
        "Fiduciaire Sarr <cabinet@fiduciaire-sarr.test>",
        "Lettre de mission 2027 - révision des honoraires",
        "Madame,\n\nCompte tenu des télédéclarations et de l'accompagnement lié à la vérification de comptabilité "
        "en cours, nos honoraires passent de 550 000 à 615 000 FCFA HT par mois au 1er janvier. Nous vous "
        "remercions de nous retourner la lettre de mission signée avant le 15 décembre.\n\nFiduciaire Sarr",
    )
    assert _priority(fees) is Priority.IMPORTANT


def test_the_senders_own_plan_is_no_ask_and_nothing_needed_from_your_side_waives_it() -> None:
    thanks = message(
        "Sarah Janssens <sarah@delvaux-retail.test>",
        "RE: Go-live - confirmation",
        "Hello Khady,\n\nThe synchronisation has been running without errors since yesterday's switch-over. "
        "Management has confirmed that no penalties will be applied, as agreed. I will send the signed "
        "acceptance certificate next week; nothing is needed from your side in the meantime.\n\nKind regards,\nSarah",
    )
    assert _priority(thanks) is Priority.INFORMATIVE


# ---------------------------------------------------------------- round 6

FRIDAY_EVENING = datetime.fromisoformat("2026-03-06T18:30:00+00:00")


def test_a_weekday_followed_by_an_hour_is_that_days_time_not_a_day_of_the_month() -> None:
    found = find_deadlines("Unless I receive a plan before Monday 9am, we will move on.", FRIDAY_EVENING)
    assert [(d.when.date().isoformat(), d.when.hour) for d in found] == [("2026-03-09", 9)]
    # "lundi 16" and "Monday 16 at 9am" are still the 16th.
    assert find_deadlines("see you Monday 16 at 9am", FRIDAY_EVENING)[0].when.day == 16


def test_a_date_followed_by_au_plus_tard_is_a_deadline() -> None:
    found = find_deadlines("Il faudrait leur confirmer ce soir au plus tard.", MONDAY_9)
    assert found and found[0].marked
    assert find_deadlines("Send it on Friday at the latest.", MONDAY_9)[0].marked
    # "Commande ferme" is a firm order, not a closing: its date is not marked as a deadline.
    assert not find_deadlines("Votre commande ferme du 12/03 est bien enregistrée.", MONDAY_9)[0].marked


def test_a_client_threatening_to_move_the_work_to_another_vendor_is_critical() -> None:
    churn = message(
        "Laura Whitfield <l.whitfield@tidewater-pay.test>",
        "Where the integration project stands",
        "Khady,\n\nWe have missed two milestones in a row. Unless I receive a realistic recovery plan before "
        "Monday 9am, I will recommend that we move the remaining work to another vendor.\n\nLaura",
        date=FRIDAY_EVENING,
    )
    assert _priority(churn) is Priority.CRITICAL


def test_a_stranger_whose_deal_goes_to_the_next_bidder_unless_confirmed_today_is_critical() -> None:
    award = message(
        "Efua Mensah <efua@kpong-agro.test>",
        "Go-ahead for the rollout",
        "Dear Khady,\n\nOur management approved your proposal. I need your written confirmation today that the "
        "start date and the team still stand. If I can't give the board that, they will look at the "
        "second-ranked bidder.\n\nRegards,\nEfua",
    )
    assert _priority(award) is Priority.CRITICAL


def test_a_signature_due_tomorrow_noon_that_would_push_the_project_back_is_critical() -> None:
    sow = message(
        "Priya <priya@accra-ledger.test>",
        "SOW for the Q2 audit",
        "Hi Khady,\n\nThe SOW is attached, signed on our side. Could you sign and send it back by tomorrow noon? "
        "Procurement closes its vendor batch then, which would push the kickoff to May.\n\nThanks!",
    )
    assert _priority(sow) is Priority.CRITICAL


def test_credentials_in_a_public_repository_for_a_system_we_built_are_an_incident() -> None:
    leak = message(
        "Kwame Owusu <kwame@harbour-freight.test>",
        "Our credentials in a public repository",
        "Hello Khady,\n\nOur security team found a public code repository containing the production database "
        "password of the tracking system your team set up. We need the credentials rotated with your team "
        "tonight. Could you call me when you read this?\n\nKwame",
    )
    assert _priority(leak) is Priority.CRITICAL


def test_an_internal_note_that_the_tender_platform_closes_today_is_critical() -> None:
    tender = message(
        "Moussa <moussa@mbaye-conseil.test>",
        "AO mairie – dépôt ce midi",
        "Khady,\n\nPour l'appel d'offres de la mairie, la plateforme des marchés ferme à 12h00 aujourd'hui. "
        "Tout est déposé en brouillon : il ne manque que votre signature sur l'acte d'engagement.\n\nMoussa",
    )
    assert _priority(tender) is Priority.CRITICAL


def test_a_field_safety_notice_on_equipment_in_use_is_critical() -> None:
    notice = message(
        "CloudOuest Quality <quality@cloudouest.test>",
        "Field Safety Notice – OX-2 power units – action required",
        "Dear customer,\n\nWe are initiating a field safety corrective action for OX-2 power units. Your site "
        "holds two affected units. Until our engineer has updated them, do not use these units without a "
        "second supply, and return the attached acknowledgement form within 24 hours.\n\nQuality team",
        date=MONDAY_9.replace(hour=14),
    )
    assert _priority(notice) is Priority.CRITICAL


def test_an_unusual_access_exporting_records_is_an_incident() -> None:
    intrusion = message(
        "Sécurité CloudOuest <securite@cloudouest.test>",
        "Accès anormal sur votre espace cet après-midi",
        "Bonjour,\n\nEntre 13h et 15h, un compte de votre équipe a servi, depuis l'étranger, à exporter environ "
        "1 200 fiches clients. Nous avons désactivé le compte. La déclaration à l'autorité de protection des "
        "données est à faire sous 72 heures ; je vous propose un point lundi.\n\nLe responsable sécurité",
    )
    assert _priority(intrusion) is Priority.CRITICAL


def test_a_supplier_cancelling_tomorrows_service_with_a_choice_to_make_tonight_is_critical() -> None:
    cancel = message(
        "Traiteur Saveurs <contact@fiduciaire-sarr.test>",
        "Réception de demain soir",
        "Bonjour,\n\nSuite à une panne de notre chambre froide, nous ne pourrons pas assurer la réception de "
        "demain soir. Deux confrères peuvent reprendre la prestation, mais il faudrait leur confirmer ce soir "
        "au plus tard.\n\nToutes nos excuses.",
    )
    assert _priority(cancel) is Priority.CRITICAL


def test_a_social_security_inspection_notice_with_a_visit_date_is_a_formal_notice() -> None:
    inspection = message(
        "URSSAF – Contrôle <controle@urssaf.test>",
        "Avis de contrôle – Mbaye Conseil",
        "Madame la gérante,\n\nJe vous informe qu'un contrôle de l'application des législations de sécurité "
        "sociale sera effectué au sein de votre entreprise. La première visite aura lieu le jeudi 2 avril à "
        "9h30. Si cette date pose une difficulté, merci de me contacter.\n\nL'inspecteur du recouvrement",
    )
    assert _priority(inspection) is Priority.CRITICAL


def test_weekly_returns_and_a_few_spots_left_are_an_investment_scam() -> None:
    pitch = message(
        "Growth Partners <hello@yield-partners.test>",
        "Your business could earn 3.8% weekly",
        "Hello,\n\nOur members earn 3.8% weekly on idle cash. Only 9 partner spots left this month: reply today "
        "to reserve yours.\n\nBest,",
    )
    assert _priority(pitch) is Priority.SPAM


# Round 7 (set AO): readings in general shapes rather than one phrase each.


def test_a_colleague_waiting_on_a_second_signature_before_todays_bank_cutoff_is_critical() -> None:
    payroll = message(
        "Ndeye Fall <ndeye@mbaye-conseil.test>",
        "Virements fournisseurs",
        "Khady,\n\nLes virements du mois sont chargés sur l'espace banque, ils attendent juste ta validation "
        "(2e signature). La banque prend les remises jusqu'à 14h.\n\nNdeye",
    )
    assert _priority(payroll) is Priority.CRITICAL
    # The same colleague with a deadline next week stays important.
    later = message(
        "Ndeye Fall <ndeye@mbaye-conseil.test>",
        "Virements fournisseurs",
        "Khady,\n\nLes virements du mois attendent ta validation. Il faudrait les valider avant vendredi "
        "prochain.\n\nNdeye",
    )
    assert _priority(later) is Priority.IMPORTANT


def test_what_is_lost_after_the_deadline_is_a_consequence_in_general_shapes() -> None:
    grant = message(
        "Programme Officer <p.officer@health-alliance.test>",
        "Contract countersignature",
        "Dear Khady,\n\nPlease find attached the service agreement. The budget line closes today; contracts "
        "signed after that date can't be charged to it and the review would then have to wait for next year. "
        "Could you sign and send it back by 5pm?\n\nBest regards",
    )
    assert _priority(grant) is Priority.CRITICAL
    panel = message(
        "Kofi Mensah <kofi@volta-agro.test>",
        "Proposal for the audit",
        "Dear Ms Mbaye,\n\nOur panel meets on Wednesday to choose between two firms. We need your written "
        "proposal by tomorrow 12:00 GMT. Anything that arrives after that won't be in the panel's pack.\n\n"
        "Kind regards,\nKofi Mensah",
    )
    assert _priority(panel) is Priority.CRITICAL
    window = message(
        "Julie Roy <julie@solutions-roy.test>",
        "Mise en prod ce soir",
        "Bonjour Khady,\n\nLe client bascule ce soir. Il nous faut l'accès au VPN, et toi seule peux approuver "
        "la demande dans ta console. Si ce n'est pas approuvé avant 17h, on doit annuler la fenêtre.\n\nJulie",
    )
    assert _priority(window) is Priority.CRITICAL


def test_an_seo_pitch_about_rankings_and_competitors_is_cold_outreach() -> None:
    pitch = message(
        "Ryan <ryan@rank-growth.test>",
        "mbaye-conseil.test - quick question",
        "Hi there,\n\nI noticed you're not ranking on page 1 for \"consultant Dakar\". Your competitors are. "
        "We help B2B firms triple their organic leads. Want me to send a short video audit of your site?\n\nRyan",
    )
    assert _priority(pitch) is Priority.SPAM


def test_a_suppliers_notice_that_prices_will_change_is_important() -> None:
    notice = message(
        "CloudOuest <noreply@cloudouest.test>",
        "Changes to VPS pricing from 1 January",
        "Hello,\n\nYou're receiving this notice because your account has active VPS services. From 1 January, "
        "prices for our VPS range will change: VPS M goes from 18,000 to 20,500 XOF per month.\n\nThe team",
    )
    assert _priority(notice) is Priority.IMPORTANT


def test_moving_a_meeting_is_not_an_escalation_because_the_sender_mentions_a_court() -> None:
    move = message(
        "Awa Sarr <a.sarr@fiduciaire-sarr.test>",
        "Point bilan : décalage à jeudi ?",
        "Bonjour Khady,\n\nJe dois être au tribunal de commerce mardi prochain pour un autre client, je ne pourrai "
        "donc pas tenir notre point. Est-ce que jeudi à 10h te conviendrait ? Dis-moi ce qui t'arrange.\n\nAwa",
    )
    assert _priority(move) is Priority.IMPORTANT


def test_a_close_partys_request_due_tomorrow_leaves_today_to_act() -> None:
    report = message(
        "Ibrahima Sow <i.sow@sgt-transit.test>",
        "Rapport pour le comité",
        "Bonjour Khady,\n\nMerci de m'envoyer la note d'avancement avant demain 16h, je la présente au comité."
        "\n\nIbrahima",
    )
    assert _priority(report) is Priority.CRITICAL
    # An event tomorrow is not a deadline: confirming attendance stays important.
    meeting = message(
        "Ibrahima Sow <i.sow@sgt-transit.test>",
        "Réunion de demain",
        "Pouvez-vous me confirmer votre présence à la réunion de demain ?",
    )
    assert _priority(meeting) is Priority.IMPORTANT


def test_a_friday_message_due_monday_morning_leaves_one_working_day() -> None:
    friday = datetime.fromisoformat("2026-03-06T15:00:00+00:00")
    due_monday = message(
        "Ibrahima Sow <i.sow@sgt-transit.test>",
        "Bon de commande",
        "Bonjour,\n\nMerci de signer le bon de commande avant lundi 9h, sans quoi la livraison glisse d'un mois."
        "\n\nIbrahima",
        date=friday,
    )
    assert _priority(due_monday) is Priority.CRITICAL
    due_wednesday = message(
        "Ibrahima Sow <i.sow@sgt-transit.test>",
        "Bon de commande",
        "Bonjour,\n\nMerci de signer le bon de commande avant mercredi 9h, sans quoi la livraison glisse d'un "
        "mois.\n\nIbrahima",
        date=friday,
    )
    assert _priority(due_wednesday) is Priority.IMPORTANT


def test_a_close_party_asking_to_act_as_soon_as_the_mail_is_read_is_critical() -> None:
    rooms = message(
        "Sarah Cole <sarah.cole@northwind.test>",
        "Hotel rooms",
        "Hi Khady,\n\nOur group's hotel rooms look cancelled in the booking system. Please call me as soon as "
        "you see this.\n\nSarah",
    )
    assert _priority(rooms) is Priority.CRITICAL


def test_a_close_partys_request_whose_miss_costs_something_is_critical_without_a_date() -> None:
    customs = message(
        "Ibrahima Sow <i.sow@sgt-transit.test>",
        "Dossier douane",
        "Bonjour Khady,\n\nMerci de nous renvoyer la déclaration corrigée. Sans ce document, nous perdons le "
        "créneau d'embarquement.\n\nIbrahima",
    )
    assert _priority(customs) is Priority.CRITICAL


# Round 7 (set AP).


def test_a_supplier_switching_licences_to_read_only_tonight_is_critical() -> None:
    licences = message(
        "Moussa Ba <m.ba@cloudouest.test>",
        "RE: Facture CO-2211",
        "Bonjour Madame,\n\nJe reviens vers vous au sujet de la facture CO-2211, échue le 31 octobre. Après les "
        "relances automatiques, le système basculera vos licences en lecture seule cette nuit à minuit. Si le "
        "virement est parti, il me suffit de l'avis d'opération.\n\nMoussa Ba",
    )
    assert _priority(licences) is Priority.CRITICAL


def test_what_a_third_party_needs_from_the_reader_today_or_else_is_critical() -> None:
    loan = message(
        "Boubacar Diallo <b.diallo@diallo-transport.test>",
        "Attestation pour la banque",
        "Bonjour Madame,\n\nMon dossier de crédit passe en comité lundi. Le chargé de clientèle vient de "
        "m'appeler : il lui faut votre attestation signée au plus tard aujourd'hui 17h. Sinon le dossier repart "
        "au comité de janvier et je perds le prix du concessionnaire.\n\nBoubacar Diallo",
        Cc="Ndeye Fall <ndeye@mbaye-conseil.test>",
    )
    assert _priority(loan) is Priority.CRITICAL
    auditor = message(
        "Claire Morel <c.morel@morel-audit.test>",
        "Northwind - reporting package",
        "Dear Khady,\n\nThe audit committee sits tomorrow at 9:00. I still don't have the signed reporting "
        "package. Without them I will have to present the entity as a scope limitation.\n\nAnything you can "
        "send tonight, even a draft, would help.\n\nClaire",
        Cc="Sarah Cole <sarah.cole@northwind.test>",
    )
    assert _priority(auditor) is Priority.CRITICAL
