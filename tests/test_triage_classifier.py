"""The offline classifier on hand-written situations from the label guide, for another company."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest

from integrations.mime import ParsedEmail
from integrations.triage import Action, OfflineClassifier, Priority, TriageContext, result_to_json
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
