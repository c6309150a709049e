"""The offline classifier on hand-written situations from the label guide, for another company."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.mime import ParsedEmail, parse_email
from integrations.triage import Action, OfflineClassifier, Party, Priority, TriageContext, result_to_json
from tests.triage_support import CONTEXT, message

classify = OfflineClassifier().classify


def _priority(email: ParsedEmail, context: TriageContext = CONTEXT) -> Priority:
    return classify(email, context).priority


def test_known_client_contract_due_today_is_critical_with_deadline_and_sign_action() -> None:
    email = message(
        "Aminata Diop <a.diop@sgt-transit.test>",
        "Contrat de transit 2026",
        "Bonjour Khady,\n\nMerci de nous retourner le contrat signé avant 17h aujourd'hui : notre comité se réunit demain "
        "et, à défaut, le dossier sera reporté à mars.\n\nCordialement,\nAminata",
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.CRITICAL
    assert result.action is Action.SIGN
    assert result.deadline is not None and result.deadline.isoformat() == "2026-03-02T17:00:00+00:00"
    assert result.deadline_text == "17h aujourd'hui"
    assert result.summary.startswith("Contrat à signer — Société Générale de Transit, avant 17h aujourd'hui")
    assert "known client" in result.reasons and "deadline today" in result.reasons


def test_english_summary_and_json_shape() -> None:
    email = message(
        "Tom <tom@northwind.test>",
        "SOW for the pilot ($4,800)",
        "Hi Khady,\n\nI need the countersigned SOW by end of day today, otherwise the pilot moves to Q2.\n\nThanks,\nTom",
    )
    context = replace(CONTEXT, language="en")
    result = classify(email, context)
    assert result.priority is Priority.CRITICAL
    assert result.summary.startswith("Contract to sign — Northwind Traders, by 18:00 today ($4,800)")
    payload = result_to_json(email, result)
    assert payload["priority"] == "critical" and payload["action"] == "sign"
    assert payload["amounts"] == [{"value": "4800", "currency": "USD", "text": "$4,800"}]
    assert payload["deadline"] == "2026-03-02T18:00:00+00:00"
    assert payload["message_id"] == email.message_id
    json.dumps(payload)


def test_shouting_client_with_a_deadline_next_week_is_important() -> None:
    email = message(
        "Dr Faye <faye@almadies-hotel.test>",
        "URGENT - CHIFFRES POUR LE COMITÉ",
        "URGENT !!! POUVEZ-VOUS M'ENVOYER LES CHIFFRES AU PLUS TARD LUNDI PROCHAIN ?\n\nDR FAYE",
    )
    assert _priority(email) is Priority.IMPORTANT


@pytest.mark.parametrize(
    ("sender", "subject", "body", "headers"),
    [
        (
            "Banque du Fleuve <securite@banquedufleuve-alertes.test>",
            "URGENT : votre compte sera suspendu",
            "Votre accès est bloqué. Confirmez votre identité en saisissant vos identifiants et le code reçu par SMS "
            "sur http://banquedufleuve-alertes.test/login sous 24h.",
            {},
        ),
        (
            "Microsoft 365 <no-reply@m365-account-notice.test>",
            "Your password expires today",
            "Your mailbox password expires today. Keep your current password here: https://m365-account-notice.test/keep",
            {},
        ),
        (
            "Service Recouvrement <relance@recouvrement-express.test>",
            "Facture impayée - action requise",
            "Votre facture de 450 000 FCFA est impayée. Réglez-la en ligne via le lien sécurisé sous 24h : "
            "https://recouvrement-express.test/pay, faute de quoi des pénalités s'appliqueront.",
            {},
        ),
        (
            "Khady Mbaye <khady.mbaye.direction@gmail.test>",
            "Virement à traiter aujourd'hui",
            "Es-tu au bureau ? J'ai besoin d'un virement confidentiel de 9 500 000 FCFA aujourd'hui avant 15h. "
            "N'en parle à personne, je suis injoignable par téléphone.",
            {"Reply_To": "k.mbaye.dg@secure-box.test"},
        ),
        (
            "CloudOuest <billing@cloudouest-verification.test>",
            "Mise à jour requise",
            "Pouvez-vous me rappeler au plus vite au sujet de votre abonnement ?",
            {},
        ),
        (
            "Fondation Internationale <win@lotto-awards.test>",
            "Félicitations, vous avez gagné",
            "Vous avez gagné 10 000 000 FCFA à notre loterie. Envoyez les frais de dossier pour réclamer vos gains.",
            {},
        ),
    ],
)
def test_phishing_and_scams_are_spam_never_critical(
    sender: str, subject: str, body: str, headers: dict[str, str]
) -> None:
    result = classify(message(sender, subject, body, headers=headers), CONTEXT)
    assert result.priority is Priority.SPAM
    assert result.action is Action.IGNORE


def test_phishing_is_never_promoted_to_critical_by_feedback() -> None:
    email = message(
        "Banque du Fleuve <securite@banquedufleuve-alertes.test>",
        "Accès bloqué",
        "Confirmez votre identité en saisissant vos identifiants sur http://banquedufleuve-alertes.test/login.",
    )
    context = replace(CONTEXT, sender_feedback={"securite@banquedufleuve-alertes.test": 5})
    result = classify(email, context)
    assert result.priority is Priority.IMPORTANT
    assert "sender feedback" in result.reasons and "phishing" in result.reasons


def test_feedback_moves_a_known_sender() -> None:
    email = message(
        "Awa <awa@sgt-transit.test>", "Compte rendu", "Pour info, voici le compte rendu. Rien à faire."
    )
    assert _priority(email) is Priority.INFORMATIVE
    promoted = replace(CONTEXT, sender_feedback={"awa@sgt-transit.test": 1})
    assert _priority(email, promoted) is Priority.IMPORTANT
    demoted = replace(CONTEXT, domain_feedback={"sgt-transit.test": -2})
    assert _priority(email, demoted) is Priority.SPAM


@pytest.mark.parametrize(
    ("sender", "subject", "body", "headers"),
    [
        (
            "Kevin <kevin@growth-agency.test>",
            "Quick question about mbaye-conseil.test",
            "Hi, I'm reaching out because I noticed your site is not on the first page of Google. "
            "Would you be open to a 15-minute call this week? If you don't want to hear from me again, reply 'no thanks'.",
            {},
        ),
        (
            "Le Mag des PME <lettre@mag-pme.test>",
            "Offre spéciale abonnés : -50 %",
            "Offre spéciale : abonnement premium à -50 % au lieu de 30 000 FCFA. Je m'abonne. "
            "Vous recevez ce message car votre adresse figure dans notre fichier de partenaires.",
            {"List_Unsubscribe": "<mailto:u@mag-pme.test>", "Precedence": "bulk"},
        ),
    ],
)
def test_unsolicited_marketing_is_spam(sender: str, subject: str, body: str, headers: dict[str, str]) -> None:
    assert _priority(message(sender, subject, body, headers=headers)) is Priority.SPAM


def test_newsletter_from_a_tool_the_company_uses_is_informative() -> None:
    email = message(
        "Facturo <newsletter@facturo.test>",
        "Nouveautés : signature de contrats et relances de factures",
        "Voici les nouveautés de votre espace Facturo. Offre spéciale : -20 % sur le module relances.\n\n"
        "Vous recevez cette lettre en tant qu'utilisatrice de Facturo.",
        List_Unsubscribe="<mailto:u@facturo.test>",
        Precedence="bulk",
    )
    assert _priority(email) is Priority.INFORMATIVE


def test_newest_part_decides_over_quoted_urgency() -> None:
    email = message(
        "Awa <awa@sgt-transit.test>",
        "RE: URGENT - plus rien ne fonctionne",
        "Merci, tout fonctionne de nouveau. Rien à faire de votre côté.\n\nAwa\n\n"
        "Le 01/03/2026 à 08:00, Khady Mbaye a écrit :\n> URGENT : plus aucune commande ne remonte, merci d'intervenir aujourd'hui.",
    )
    assert _priority(email) is Priority.INFORMATIVE


def test_client_outage_is_critical_and_resolved_one_is_not() -> None:
    down = message(
        "Jean <jean@almadies-hotel.test>",
        "plus aucune réservation ne remonte",
        "Depuis 6h ce matin les réservations ne remontent plus dans le planning. Vous pouvez regarder au plus vite ?",
    )
    assert _priority(down) is Priority.CRITICAL
    fixed = message(
        "CloudOuest <support@cloudouest.test>",
        "RE: [Ticket 12] serveur en panne",
        "Le serveur fonctionne de nouveau normalement. Ce ticket est clôturé, aucune action n'est requise.",
    )
    assert _priority(fixed) is Priority.INFORMATIVE


def test_formal_notices_are_critical_even_with_a_long_period() -> None:
    lawyer = message(
        "Cabinet Ndoye Avocats <secretariat@ndoye-avocats.test>",
        "Mise en demeure - factures impayées",
        "Par la présente, nous vous mettons en demeure de régler la somme de 2 450 000 FCFA dans un délai de huit jours.",
    )
    result = classify(lawyer, CONTEXT)
    assert result.priority is Priority.CRITICAL and "formal notice" in result.reasons
    assert result.action is Action.PAY
    tax = message(
        "Direction des Impôts <controle@impots.test>",
        "Convocation - contrôle fiscal",
        "Vous êtes convoquée le 16 mars 2026 à 9h00 par l'inspecteur chargé du contrôle fiscal de votre société.",
    )
    assert _priority(tax) is Priority.CRITICAL


def test_unknown_sender_cannot_make_itself_critical_with_a_deadline() -> None:
    email = message(
        "Registrar Services <renew@domain-registrar.test>",
        "Votre nom de domaine expire aujourd'hui",
        "Votre nom de domaine expire aujourd'hui. Merci de le renouveler avant 18h, sinon votre site sera coupé.",
    )
    result = classify(email, CONTEXT)
    assert result.priority is not Priority.CRITICAL


def test_tomorrow_needs_stakes_to_be_critical() -> None:
    meeting = message(
        "Awa <awa@sgt-transit.test>",
        "Réunion de demain",
        "Pouvez-vous me confirmer votre présence à la réunion de demain ?",
    )
    assert _priority(meeting) is Priority.IMPORTANT
    payment = message(
        "CloudOuest Facturation <facturation@cloudouest.test>",
        "Dernière relance avant suspension",
        "Sans régularisation de la facture CO-118 (348,60 €) avant demain 12h00, vos serveurs seront suspendus.",
    )
    result = classify(payment, CONTEXT)
    assert result.priority is Priority.CRITICAL and result.action is Action.PAY


def test_internal_request_due_today_is_critical() -> None:
    email = message(
        "Moussa <moussa@mbaye-conseil.test>",
        "Validation du devis",
        "Salut Khady, peux-tu valider le devis Almadies avant 15h ? Ils signent cet après-midi.",
    )
    assert _priority(email) is Priority.CRITICAL


def test_own_bank_blocking_the_card_is_critical() -> None:
    email = message(
        "Banque du Fleuve - Sécurité <securite@banquedufleuve.test>",
        "Carte bloquée - opérations inhabituelles",
        "Votre carte a été bloquée après des opérations inhabituelles. Merci d'appeler votre conseiller aujourd'hui. "
        "Nous ne vous demanderons jamais vos codes.",
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.CRITICAL and result.action is Action.CALL


@pytest.mark.parametrize(
    ("sender", "subject", "body", "expected"),
    [
        (
            "Sarr <m.sarr@fiduciaire-sarr.test>",
            "Facture d'honoraires février",
            "Veuillez trouver ci-joint notre facture n° F-88 de 300 000 FCFA, échéance le 31/03/2026.",
            Priority.IMPORTANT,
        ),
        (
            "Jean <jean@almadies-hotel.test>",
            "Report de notre réunion",
            "Pourriez-vous me proposer un autre créneau la semaine prochaine ?",
            Priority.IMPORTANT,
        ),
        (
            "Ana Lopes <ana.lopes@gmail.test>",
            "Application for the junior consultant position",
            "Please find attached my CV. I am applying for the junior consultant role.",
            Priority.IMPORTANT,
        ),
        (
            "Paul <paul@prospect-bois.test>",
            "Demande de devis",
            "Nous souhaiterions recevoir une offre pour l'automatisation de notre facturation.",
            Priority.IMPORTANT,
        ),
        (
            "Shop <no-reply@bureau-shop.test>",
            "Votre commande a été expédiée",
            "Votre commande n° 778 a été expédiée. Livraison prévue jeudi.",
            Priority.INFORMATIVE,
        ),
        (
            "Awa <awa@sgt-transit.test>",
            "Accepté: Point projet @ mar. 10 mars",
            "Awa a accepté cette invitation.",
            Priority.INFORMATIVE,
        ),
        (
            "Awa <awa@sgt-transit.test>",
            "Réponse automatique : Contrat",
            "Je suis absente jusqu'au 12 mars. En cas d'urgence, appelez Moussa.",
            Priority.INFORMATIVE,
        ),
        (
            "Banque du Fleuve <avis@banquedufleuve.test>",
            "Avis de crédit",
            "Votre compte a été crédité de 3 186 000 FCFA. Aucune démarche n'est nécessaire.",
            Priority.INFORMATIVE,
        ),
    ],
)
def test_everyday_mail(sender: str, subject: str, body: str, expected: Priority) -> None:
    assert _priority(message(sender, subject, body)) is expected


def test_meeting_invitation_with_calendar_part_is_important() -> None:
    email = message(
        "Awa <awa@sgt-transit.test>",
        "Invitation: Revue trimestrielle @ jeu. 12 mars 2026",
        "Vous êtes invitée à la revue trimestrielle.",
    )
    assert _priority(email) is Priority.IMPORTANT


def test_summary_is_one_line_and_bounded() -> None:
    email = message("Awa <awa@sgt-transit.test>", "Sujet " * 60, "Pouvez-vous répondre ?\n" * 5)
    summary = classify(email, CONTEXT).summary
    assert "\n" not in summary and len(summary) <= 160


def test_messages_without_date_use_the_injected_clock() -> None:
    clock = OfflineClassifier(clock=lambda: datetime.fromisoformat("2026-03-02T09:00:00+00:00"))
    email = message(
        "Awa <awa@sgt-transit.test>", "Contrat", "Merci de signer le contrat avant 17h aujourd'hui."
    )
    undated = replace(email, date=None)
    assert clock.classify(undated, CONTEXT).priority is Priority.CRITICAL


def test_context_from_json_accepts_the_dev_shape_and_extras() -> None:
    context = TriageContext.from_json(
        {
            "organization": {
                "name": "Atelier",
                "domain": "Atelier.test",
                "location": "Abidjan, Côte d'Ivoire",
                "shared_addresses": ["contact@atelier.test"],
            },
            "manager": {"name": "Awa Kouassi", "email": "Awa@atelier.test"},
            "known_clients": [
                {"name": "Banque", "domain": "banque.test"},
                {"name": "Multi", "domains": ["a.test", "b.test"]},
            ],
            "suppliers": [{"name": "Host", "domain": "host.test", "role": "hosting"}],
            "vips": ["ceo@banque.test"],
            "unknown_key": 1,
        }
    )
    assert context.organization_domains == ("atelier.test",)
    assert context.manager_addresses == ("awa@atelier.test",)
    assert [p.domain for p in context.known_clients] == ["banque.test", "a.test", "b.test"]
    assert context.suppliers[0].role == "hosting"
    assert context.timezone == "Africa/Abidjan"
    assert context.vips == ("ceo@banque.test",)
    assert TriageContext.from_json({}).timezone == "Europe/Paris"


_SITUATIONS = [
    (
        "spam",
        "Aminata Diop <aminata.diop.sgt@gmail.test>",
        "Nouveau RIB pour nos factures",
        "Bonjour, suite à un changement de banque, merci d'utiliser désormais notre nouveau RIB ci-joint pour le règlement de la facture de 4 500 000 FCFA, dès aujourd'hui.",
        {},
    ),
    (
        "spam",
        "Accounts <accounts@fastpay-invoices.test>",
        "Overdue invoice - immediate payment required",
        "Your invoice #4471 of USD 2,300 is overdue. Pay now at https://fastpay-invoices.test/pay to avoid legal action within 24 hours.",
        {"Reply-To": "collections@other-mail.test"},
    ),
    (
        "critical",
        "Tom <tom@northwind.test>",
        "Re: pilot slot",
        "Any update on this? We need the signed order form by tomorrow noon or we lose the January slot.\n\nOn Mon, Mar 1, 2026 at 10:00 AM Khady <khady@mbaye-conseil.test> wrote:\n> Will send soon.",
        {"In-Reply-To": "<abc@mbaye-conseil.test>"},
    ),
    (
        "critical",
        "Tom <tom@northwind.test>",
        "Checkout down",
        "Our checkout has been down since 7am and customers can't pay. Please call me ASAP.",
        {},
    ),
    (
        "informative",
        "Notion <team@mail.notion.test>",
        "What's new in Notion: March",
        "Here is what's new this month in your workspace. You're receiving this email because you have a Notion account.",
        {"List-Unsubscribe": "<mailto:u@notion.test>"},
    ),
    (
        "spam",
        "Sarah <sarah@growthly.test>",
        "Partnership opportunity",
        "Hope this email finds you well. We help consultancies like yours generate 30+ qualified leads per month. Would you be open to a quick call next week?",
        {},
    ),
    (
        "important",
        "Tom <tom@northwind.test>",
        "Thursday call",
        "Can we move our Thursday call to next week? Tuesday or Wednesday afternoon works for me.",
        {},
    ),
    (
        "important",
        "CloudOuest Billing <billing@cloudouest.test>",
        "Invoice CO-2026-031",
        "Please find attached invoice CO-2026-031 for 120 000 FCFA, due on March 10.",
        {},
    ),
    (
        "informative",
        "Stripe <receipts@stripe.test>",
        "Your receipt from Facturo",
        "Receipt #1234. Amount paid: €29.00. Thank you for your payment.",
        {},
    ),
    (
        "important",
        "CloudOuest <domains@cloudouest.test>",
        "Your domain expires in 5 days",
        "Your domain mbaye-conseil.test expires on March 7. Renew it from your account to avoid any interruption of your website and email.",
        {},
    ),
    (
        "critical",
        "CloudOuest <domains@cloudouest.test>",
        "Your domain expires tomorrow",
        "Your domain mbaye-conseil.test expires tomorrow. Renew it today from your account, otherwise your website and email will stop working.",
        {},
    ),
    (
        "critical",
        "DGI - Centre des impôts <cdi@impots.gouv.test>",
        "Avis de mise en recouvrement",
        "Un avis de mise en recouvrement de 3 200 000 FCFA a été émis à l'encontre de votre société. Vous disposez de 30 jours pour régler ou contester.",
        {},
    ),
    (
        "critical",
        "Greffe <greffe@tribunal-commerce.test>",
        "Assignation",
        "Vous êtes assignée devant le tribunal de commerce de Dakar, audience le 15 avril 2026 à 9h.",
        {},
    ),
    (
        "spam",
        "Khady Mbaye <khady.mbaye.ceo@gmail.test>",
        "Quick favour",
        "Are you in the office? I need you to buy 5 Apple gift cards for a client today. Keep it confidential, I'm in a meeting.",
        {},
    ),
    (
        "spam",
        "DocuSign <dse@docusign-secure-mail.test>",
        "Aminata Diop sent you a document to review and sign",
        "Please review and sign: Contract.pdf https://docusign-secure-mail.test/view?id=88 Log in with your email password to access the document.",
        {},
    ),
    (
        "informative",
        "Moussa <moussa@mbaye-conseil.test>",
        "Déjeuner d'équipe vendredi",
        "Petit rappel : déjeuner d'équipe vendredi à 13h au restaurant habituel.",
        {},
    ),
    (
        "informative",
        "Tom <tom@northwind.test>",
        "Re: report",
        "Thanks for the report, all good on our side.",
        {},
    ),
    (
        "important",
        "Tom <tom@northwind.test>",
        "Question on multi-site",
        "Could you tell me whether the module supports several warehouses?",
        {},
    ),
    (
        "informative",
        "Banque du Fleuve <releves@banquedufleuve.test>",
        "Relevé de compte février 2026",
        "Votre relevé de compte de février 2026 est disponible dans votre espace client.",
        {},
    ),
    (
        "informative",
        "LinkedIn <notifications-noreply@linkedin.test>",
        "You appeared in 12 searches this week",
        "See who's looking at your profile.",
        {"List-Unsubscribe": "<mailto:u@linkedin.test>"},
    ),
    (
        "spam",
        "Events Pro <events@bizevents-africa.test>",
        "Webinaire gratuit : doublez votre CA en 2026",
        "Inscrivez-vous gratuitement à notre webinaire exclusif. Places limitées ! Réservez maintenant.",
        {"List-Unsubscribe": "<mailto:u@bizevents-africa.test>", "Precedence": "bulk"},
    ),
    (
        "informative",
        "CloudOuest <satisfaction@cloudouest.test>",
        "Votre avis compte",
        "Donnez-nous votre avis sur notre support en 2 minutes.",
        {"List-Unsubscribe": "<mailto:u@cloudouest.test>"},
    ),
    (
        "critical",
        "Awa <awa@sgt-transit.test>",
        "Bon de commande à confirmer",
        "Notre direction a validé la commande de 12 000 000 FCFA. Merci de confirmer par écrit avant 16h aujourd'hui, sinon le budget sera perdu.",
        {},
    ),
    (
        "important",
        "Jean <jean@almadies-hotel.test>",
        "Relance devis",
        "Bonjour, avez-vous pu avancer sur le devis ? Merci de me tenir au courant.",
        {},
    ),
    (
        "spam",
        "Support Microsoft <support@micros0ft-office.test>",
        "Votre boîte mail est pleine",
        "Votre boîte de réception est pleine. Cliquez ici pour augmenter votre stockage : http://micros0ft-office.test/upgrade",
        {},
    ),
]


@pytest.mark.parametrize(("expected", "sender", "subject", "body", "headers"), _SITUATIONS)
def test_more_situations(
    expected: str, sender: str, subject: str, body: str, headers: dict[str, str]
) -> None:
    context = replace(CONTEXT, language="en")
    result = classify(message(sender, subject, body, headers=headers), context)
    assert result.priority.value == expected, result.reasons


def test_forward_is_read_with_the_forwarded_text_unless_passed_on_for_information() -> None:
    forwarded = (
        "\n\n---------- Forwarded message ---------\nFrom: Awa <awa@sgt-transit.test>\n\n"
        "Merci de nous retourner le contrat signé avant 17h aujourd'hui, sinon le dossier sera reporté."
    )
    asked = message("Moussa <moussa@mbaye-conseil.test>", "TR: Contrat", "Peux-tu t'en occuper ?" + forwarded)
    assert _priority(asked) is Priority.CRITICAL
    passed_on = message(
        "Moussa <moussa@mbaye-conseil.test>", "TR: Contrat", "Pour info, je m'en occupe." + forwarded
    )
    assert _priority(passed_on) is Priority.INFORMATIVE


def test_legal_threat_with_an_outside_link_from_an_unknown_sender_is_spam() -> None:
    email = message(
        "Service Contentieux <notification@actes-officiels.test>",
        "Mise en demeure avant poursuites",
        "Nous vous mettons en demeure de consulter le dossier sur https://dossier-juridique.test/voir avant saisie.",
    )
    assert _priority(email) is Priority.SPAM


def test_marked_deadline_tomorrow_morning_is_critical_for_a_known_client() -> None:
    email = message(
        "Awa <awa@sgt-transit.test>",
        "Rapport pour le comité",
        "Pouvez-vous m'envoyer le rapport avant demain 9h ?",
    )
    assert _priority(email) is Priority.CRITICAL


def test_link_showing_one_site_and_leading_to_another_is_phishing() -> None:
    email = message(
        "Service Clients <info@notifications-clients.test>",
        "Relevé disponible",
        "Votre relevé est disponible.",
        html='<p>Votre relevé est disponible : <a href="http://collect-data.test/x">https://banquedufleuve.test/releve</a></p>',
    )
    result = classify(email, CONTEXT)
    assert result.priority is Priority.SPAM and "deceptive link" in result.reasons


def test_html_attachment_from_an_unknown_sender_is_phishing() -> None:
    msg = EmailMessage()
    msg["From"] = "Comptabilité <compta@factures-en-ligne.test>"
    msg["To"] = "khady@mbaye-conseil.test"
    msg["Subject"] = "Facture en attente"
    msg["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    msg.set_content("Veuillez consulter la facture jointe.")
    msg.add_attachment(b"<html>login</html>", maintype="text", subtype="html", filename="Facture_0318.html")
    result = classify(parse_email(msg.as_bytes()), CONTEXT)
    assert result.priority is Priority.SPAM and "dangerous attachment" in result.reasons


@pytest.mark.parametrize(
    "body",
    [
        "Malgré nos relances, la facture CO-77 reste impayée. Merci de la régler : sans paiement sous 8 jours, "
        "vos services seront suspendus.",
        "Third reminder: invoice INV-88 is still unpaid. Please settle it within 7 days or we will hand the file "
        "to our collection agency.",
    ],
)
def test_supplier_escalation_with_a_serious_consequence_is_critical(body: str) -> None:
    email = message("CloudOuest Facturation <facturation@cloudouest.test>", "Relance facture impayée", body)
    assert _priority(email) is Priority.CRITICAL


def test_first_payment_reminder_without_threat_is_important() -> None:
    email = message(
        "CloudOuest Facturation <facturation@cloudouest.test>",
        "Rappel : facture CO-77",
        "Sauf erreur de notre part, la facture CO-77 n'est pas encore réglée. Merci de procéder au paiement.",
    )
    assert _priority(email) is Priority.IMPORTANT


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=600), st.text(max_size=80), st.sampled_from(["a@b.test", "x@sgt-transit.test", "", "@@"])
)
def test_classify_never_raises_on_arbitrary_text(body: str, subject: str, sender: str) -> None:
    email = replace(message("Someone <s@x.test>", "x", "y"), text=body, subject=subject, from_addr=sender)
    result = classify(email, CONTEXT)
    assert len(result.summary) <= 160 and "\n" not in result.summary


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1500))
def test_classify_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    classify(parse_email(raw), CONTEXT)


_HARBOUR = TriageContext(
    organization_name="Harbour Analytics Ltd",
    organization_domains=("harbour-analytics.test",),
    manager_addresses=("james@harbour-analytics.test",),
    manager_name="James Whitfield",
    known_clients=(
        Party("Brightwater Foods", "brightwater.test"),
        Party("Kessler Logistics GmbH", "kessler-log.test"),
    ),
    suppliers=(
        Party("SkyRack Hosting", "skyrack.test", "hosting"),
        Party("Lloyds Business", "lloydsbiz.test", "bank"),
    ),
    language="en",
    timezone="Europe/London",
)
_WEDNESDAY = datetime.fromisoformat("2026-03-04T10:00:00+00:00")
_ENGLISH_SITUATIONS = [
    (
        "critical",
        "Anna Keller <anna.keller@kessler-log.test>",
        "Signed DPA needed today",
        "Hi James,\n\nLegal won't let us go live on Monday unless we have the signed data processing agreement back by 4pm today. Could you sign and return it?\n\nThanks,\nAnna",
    ),
    (
        "critical",
        "Brightwater IT <it-ops@brightwater.test>",
        "Dashboard down - orders not syncing",
        "Since 6am the orders dashboard shows no data and our warehouse is blocked. Please look into it urgently.",
    ),
    (
        "important",
        "Anna Keller <anna.keller@kessler-log.test>",
        "Q2 workshop dates",
        "Could you send me two or three possible dates for the Q2 workshop in April?",
    ),
    (
        "important",
        "SkyRack Billing <billing@skyrack.test>",
        "Invoice SR-2211 due 18 March",
        "Please find attached invoice SR-2211 (GBP 420.00), payment due by 18 March 2026.",
    ),
    (
        "informative",
        "SkyRack Status <status@skyrack.test>",
        "[Resolved] Network latency in LON-1",
        "The latency issue in LON-1 has been resolved. No action is required.",
    ),
    (
        "informative",
        "Lloyds Business <alerts@lloydsbiz.test>",
        "Payment received",
        "You have received a payment of GBP 12,400.00 from Brightwater Foods. No action is needed.",
    ),
    (
        "spam",
        "Lloyds Business Security <security@lloydsbiz-secure.test>",
        "Unusual sign-in detected",
        "We detected an unusual sign-in. Verify your identity within 24 hours: https://lloydsbiz-secure.test/verify",
    ),
    (
        "spam",
        "James Whitfield <j.whitfield.ceo@outlook.test>",
        "Urgent wire",
        "Are you at your desk? I need a confidential wire of GBP 48,000 sent today to close an acquisition. Reply only to this email.",
    ),
    (
        "spam",
        "Growth Hackers <hello@growthhackers.test>",
        "Double your leads in 30 days",
        "Hi there, we help analytics firms like yours double their inbound leads. Book a call: https://growthhackers.test/call. Unsubscribe here.",
    ),
    (
        "critical",
        "HMRC Compliance <compliance@hmrc.gov.test>",
        "Notice of tax assessment and penalty",
        "This is a formal notice: a penalty of GBP 3,200 has been assessed. You must pay or appeal within 30 days.",
    ),
    (
        "informative",
        "Anna Keller <anna.keller@kessler-log.test>",
        "Re: workshop",
        "Great, thanks James, all clear on our side.",
    ),
    (
        "important",
        "Sarah Lin <sarah.lin@gmail.test>",
        "Application - Junior Data Analyst",
        "Dear Mr Whitfield, I am applying for the Junior Data Analyst role advertised on your website. Please find my CV attached.",
    ),
    (
        "informative",
        "Tom Baker <tom@harbour-analytics.test>",
        "FYI - backups done",
        "FYI, the quarterly backups are done and verified. Nothing to do on your side.",
    ),
    (
        "important",
        "Tom Baker <tom@harbour-analytics.test>",
        "Budget review",
        "Can we go through the budget next week? Let me know what works.",
    ),
    (
        "critical",
        "Brightwater Procurement <procurement@brightwater.test>",
        "RFP closing today 17:00",
        "Reminder: the RFP for analytics services closes today at 17:00. We have not received your proposal yet; late submissions will not be considered.",
    ),
    (
        "informative",
        "Zoom <no-reply@zoom.test>",
        "Your meeting recording is ready",
        "The recording of your meeting 'Weekly sync' is now available in your account.",
    ),
    (
        "spam",
        "DHL Express <support@dhl-parcel-tracking.test>",
        "Parcel on hold - customs fee",
        "Your parcel is held at customs. Pay the GBP 2.99 fee to release it: https://dhl-parcel-tracking.test/pay",
    ),
    (
        "important",
        "Kessler Logistics GmbH <noreply@kessler-log.test>",
        "Supplier portal: update your bank details by 31 March",
        "Please log in to the supplier portal and confirm your company details before 31 March 2026.",
    ),
    (
        "critical",
        "SkyRack Billing <billing@skyrack.test>",
        "Final notice before suspension",
        "Your account is 45 days overdue. Unless payment of GBP 1,250 is received within 5 days, all services will be suspended.",
    ),
    (
        "important",
        "Brightwater Foods <orders@brightwater.test>",
        "Meeting tomorrow moved",
        "Could we move tomorrow's call from 10am to 2pm?",
    ),
]


@pytest.mark.parametrize(("expected", "sender", "subject", "body"), _ENGLISH_SITUATIONS)
def test_an_english_speaking_company(expected: str, sender: str, subject: str, body: str) -> None:
    result = classify(message(sender, subject, body, date=_WEDNESDAY), _HARBOUR)
    assert result.priority.value == expected, result.reasons


def test_the_senders_own_schedule_is_not_the_readers_deadline() -> None:
    french = message(
        "CloudOuest Expéditions <expeditions@cloudouest.test>",
        "Votre commande a été expédiée",
        "Votre commande n° 5521 a été expédiée. Livraison prévue : demain, avant 10h.",
    )
    assert _priority(french) is Priority.INFORMATIVE
    english = message(
        "Northwind Deliveries <deliveries@northwind.test>",
        "Delivery note DN-118",
        "Your samples will be delivered tomorrow before 9am by courier. The delivery note is attached.",
    )
    assert _priority(english) is Priority.INFORMATIVE


def test_actions_required_upon_receipt_from_a_known_supplier_are_critical() -> None:
    email = message(
        "CloudOuest Sécurité <securite@cloudouest.test>",
        "Avis de sécurité : pare-feu FW-20",
        "Une faille critique touche votre pare-feu FW-20.\n\nActions à mener dès réception :\n"
        "1. débrancher l'accès distant ;\n2. appliquer le correctif joint.",
    )
    assert _priority(email) is Priority.CRITICAL


def test_conditional_threat_to_leave_is_critical() -> None:
    email = message(
        "Jean <jean@almadies-hotel.test>",
        "Notre contrat",
        "Si je n'ai pas de nouvelles de votre part avant 17h aujourd'hui, je proposerai à la direction de "
        "dénoncer notre contrat et de confier la maintenance à un autre prestataire.",
    )
    assert _priority(email) is Priority.CRITICAL


def test_automated_critical_alert_from_a_known_supplier_is_critical() -> None:
    email = message(
        "CloudOuest Supervision <supervision@cloudouest.test>",
        "[CRITIQUE] srv-01 : sauvegardes en échec depuis 4 jours",
        "Alerte de niveau critique. Disque système : 96 %. Saturation prévue ce soir : la base s'arrêtera.",
        Auto_Submitted="auto-generated",
    )
    assert _priority(email) is Priority.CRITICAL


def test_automated_notice_with_an_imperative_and_a_later_deadline_is_important() -> None:
    email = message(
        "CloudOuest Domaines <domaines@cloudouest.test>",
        "Échec du renouvellement automatique",
        "Le renouvellement de votre domaine a échoué. Mettez à jour votre moyen de paiement avant le 28 mars "
        "pour éviter toute interruption.",
        Auto_Submitted="auto-generated",
    )
    assert _priority(email) is Priority.IMPORTANT


@pytest.mark.parametrize(
    "body",
    [
        "Une pénalité de 500 000 FCFA vous est appliquée. Réglez par transfert d'argent mobile au +221 77 000 00 00 "
        "sous 48 heures.",
        "Votre amende de 90 000 FCFA doit être réglée sous 24 heures : payer l'amende : http://amendes-paiement.test/p",
    ],
)
def test_fines_payable_to_a_phone_number_or_by_link_from_an_unknown_sender_are_spam(body: str) -> None:
    email = message("Service des Amendes <amendes@paiement-amendes.test>", "Avis d'amende", body)
    assert _priority(email) is Priority.SPAM


@pytest.mark.parametrize(
    ("sender", "subject", "body"),
    [
        (
            "Claire <claire@lumen-formation.test>",
            "Convention à signer",
            "Merci de nous retourner la convention signée avant 17h aujourd'hui, sans quoi votre intervention "
            "sera retirée du programme.",
        ),
        (
            "Charlotte <charlotte@lemieux-conseil.test>",
            "Agreement for signature",
            "Please sign the subcontracting agreement by 5 pm today; otherwise your team will be removed "
            "from the proposal.",
        ),
        (
            "Achats <achats@keita-mines.test>",
            "Invitation to bid KM-14",
            "Bids must be uploaded before 15:00 today. Late bids will not be considered.",
        ),
    ],
)
def test_clean_unknown_sender_with_formal_stakes_today_is_critical(
    sender: str, subject: str, body: str
) -> None:
    assert _priority(message(sender, subject, body)) is Priority.CRITICAL


def test_formal_stakes_today_need_a_clean_sender() -> None:
    body = (
        "Merci de signer le contrat avant 17h aujourd'hui, sans quoi il sera annulé : "
        "https://contrat-signature.test/sign"
    )
    with_link = message("Service <contrats@contrat-signature.test>", "Contrat à signer", body)
    assert _priority(with_link) is not Priority.CRITICAL
    lookalike = message(
        "Direction <dg@mbaye-conseil.test.secure-mail.test>",
        "Contrat à signer",
        "Merci de signer le contrat avant 17h aujourd'hui, sans quoi il sera annulé.",
        Reply_To="dg.mbaye@mailbox.test",
    )
    assert _priority(lookalike) is Priority.SPAM


def test_tender_announced_with_a_later_deadline_is_important() -> None:
    email = message(
        "Portail des marchés <notifications@marches-publics.test>",
        "Nouvelle consultation publiée",
        "Une consultation correspondant à votre profil est publiée. Date limite de remise des offres : "
        "10 avril 2026 à 12h00.",
    )
    assert _priority(email) is Priority.IMPORTANT


@pytest.mark.parametrize(
    ("sender", "subject", "body"),
    [
        (
            "Legal Department <legal@copyright-claims.test>",
            "Formal notice of copyright infringement",
            "This is a formal notice. To avoid legal action within 48 hours, pay the settlement fee of "
            "USD 1,200 here: https://copyright-claims.test/settle",
        ),
        (
            "Service Contentieux <avis@recouvrement-amendes.test>",
            "Mise en demeure avant poursuites",
            "Nous vous mettons en demeure. Pour éviter les poursuites, réglez la somme de 95 000 FCFA ici : "
            "https://recouvrement-amendes.test/payer",
        ),
    ],
)
def test_legal_threat_with_a_payment_link_is_spam(sender: str, subject: str, body: str) -> None:
    assert _priority(message(sender, subject, body)) is Priority.SPAM


@pytest.mark.parametrize(
    ("sender", "subject", "body"),
    [
        (
            "Jean Kassi <jean.kassi@kassi-btp.test>",
            "Pointage en panne",
            "Depuis ce matin le système de pointage que vous nous avez installé ne fonctionne plus, "
            "60 ouvriers ne peuvent pas badger. Merci d'intervenir au plus vite.",
        ),
        (
            "Daniel Okoro <d.okoro@okoro-energy.test>",
            "Dashboard down",
            "The reporting dashboard you delivered last month has been down since 7am. Please help urgently.",
        ),
    ],
)
def test_outage_of_what_the_company_delivered_is_critical_from_a_client_not_in_the_context(
    sender: str, subject: str, body: str
) -> None:
    assert _priority(message(sender, subject, body)) is Priority.CRITICAL


def test_cold_outreach_about_a_broken_site_stays_spam() -> None:
    email = message(
        "Alex <alex@uptime-pros.test>",
        "Your website is down",
        "Hi, I noticed your website is down. Our team can fix it today. Would you be open to a quick call?",
    )
    assert _priority(email) is Priority.SPAM


def test_known_address_with_an_outside_payment_link_is_never_critical() -> None:
    email = message(
        "Awa <awa@sgt-transit.test>",
        "Facture",
        "Bonjour, veuillez régler la facture via ce lien sécurisé https://pay-secure-invoices.test/x "
        "avant ce soir, sans quoi le dossier sera transmis au contentieux.",
    )
    assert _priority(email) is not Priority.CRITICAL


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Fais un virement confidentiel de 8 millions aujourd'hui, n'en parle à personne.", Priority.SPAM),
        ("Buy four gift cards and send me the codes, keep this between us.", Priority.SPAM),
        (
            "Pour le cadeau d'équipe, on part sur des cartes cadeaux ? Dis-moi d'ici vendredi.",
            Priority.IMPORTANT,
        ),
    ],
)
def test_ceo_fraud_hallmarks_from_the_company_domain(body: str, expected: Priority) -> None:
    email = message("Direction <moussa@mbaye-conseil.test>", "Demande", body)
    assert _priority(email) is expected


def test_known_client_signature_through_a_platform_due_today_is_critical() -> None:
    email = message(
        "Signeo <no-reply@signeo.test>",
        "Awa vous invite à signer : contrat 2026 (expire ce soir)",
        "Awa (awa@sgt-transit.test) vous a envoyé un document à signer. Le contrat doit être signé "
        "aujourd'hui. Cette demande expire aujourd'hui à 23h59.",
        Reply_To="awa@sgt-transit.test",
        headers={"Auto-Submitted": "auto-generated"},
    )
    assert _priority(email) is Priority.CRITICAL
