"""Each triage signal on its own, in French and in English."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from integrations.triage import Party, Priority, TriageContext
from integrations.triage.amount import find_amounts, parse_number
from integrations.triage.bulk import analyze_bulk
from integrations.triage.content import Cues, read_cues
from integrations.triage.deadline import find_deadlines, horizon_days, pick_deadline
from integrations.triage.offline import apply_feedback
from integrations.triage.sender import (
    DISPLAY_MISMATCH,
    LOOKALIKE,
    MANAGER_IMPERSONATION,
    REPLY_TO_ELSEWHERE,
    Relation,
    analyze_sender,
    lookalike_of,
    registrable_domain,
)
from integrations.triage.text import fold, is_reply_subject
from integrations.triage.thread import split_thread
from tests.triage_support import CONTEXT, message

TUESDAY = datetime.fromisoformat("2025-12-02T09:41:00+00:00")  # a Tuesday


def _deadline(text: str, sent: datetime = TUESDAY) -> tuple[str, str] | None:
    found = pick_deadline(find_deadlines(text, sent), asked={(0, len(text))})
    return (found.when.strftime("%Y-%m-%d %H:%M"), found.text) if found else None


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("Merci de nous retourner le contrat signé avant 17h aujourd'hui.", "2025-12-02 17:00"),
        ("Il me le faut aujourd'hui 17h.", "2025-12-02 17:00"),
        ("Pouvez-vous répondre ce soir ?", "2025-12-02 20:00"),
        ("Merci de confirmer avant midi.", "2025-12-02 12:00"),
        ("Envoyez-le demain matin.", "2025-12-03 09:00"),
        ("Réponse attendue d'ici vendredi.", "2025-12-05 18:00"),
        ("À retourner avant vendredi.", "2025-12-05 18:00"),
        ("Merci de régler sous 48h.", "2025-12-04 09:41"),
        ("Échéance : 13/12/2025.", "2025-12-13 18:00"),
        ("Merci de répondre le 12/12.", "2025-12-12 18:00"),
        ("Date limite : 12 décembre.", "2025-12-12 18:00"),
        ("au plus tard mardi 9 au matin", "2025-12-09 09:00"),
        ("d'ici lundi prochain, le 8 décembre", "2025-12-08 18:00"),
        ("d'ici la fin de la semaine prochaine", "2025-12-12 18:00"),
        ("avant demain, mercredi 3 décembre à 12h00 (heure de Paris)", "2025-12-03 12:00"),
        ("Actions à mener dès réception :", "2025-12-02 18:00"),
    ],
)
def test_french_deadlines(text: str, when: str) -> None:
    found = _deadline(text)
    assert found is not None and found[0] == when


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("Please send it before Friday.", "2025-12-05 18:00"),
        ("I need the signed SOW by EOD.", "2025-12-02 18:00"),
        ("Could you confirm by end of day today?", "2025-12-02 18:00"),
        ("Deadline: December 15.", "2025-12-15 18:00"),
        ("Please reply by Dec 15th, 2025.", "2025-12-15 18:00"),
        ("We need it tomorrow (Wednesday) at 10am GMT.", "2025-12-03 10:00"),
        ("Payment is due within 3 business days.", "2025-12-05 09:41"),
        ("Please answer by 5 pm.", "2025-12-02 17:00"),
        ("due 2025-12-10", "2025-12-10 18:00"),
        ("no later than next Monday", "2025-12-08 18:00"),
        ("Please stop using the device immediately.", "2025-12-02 18:00"),
    ],
)
def test_english_deadlines(text: str, when: str) -> None:
    found = _deadline(text)
    assert found is not None and found[0] == when


def test_deadline_keeps_text_as_written_and_time_zone() -> None:
    sent = datetime.fromisoformat("2025-12-05T08:05:00+00:00")
    found = _deadline(
        "La date limite est fixée à ce jour, vendredi 5 décembre 2025, à 16h00 (heure d'Abidjan).", sent
    )
    assert found == ("2025-12-05 16:00", "ce jour, vendredi 5 décembre 2025, à 16h00 (heure d'Abidjan)")


@pytest.mark.parametrize(
    "text",
    [
        "Depuis 4h ce matin les commandes ne remontent plus.",
        "La maintenance aura lieu le 14/12/2025 de 02h00 à 04h00.",
        "Votre facture du 01/11/2025 est jointe.",
        "Black Friday: everything must go.",
        "Le tarif VPS-4 : 24,90 € HT.",
    ],
)
def test_dates_that_are_not_deadlines(text: str) -> None:
    marked = [d for d in find_deadlines(text, TUESDAY) if d.marked]
    assert marked == []


def test_unmarked_date_counts_only_in_an_asking_sentence() -> None:
    text = "Merci d'appeler aujourd'hui votre conseiller."
    found = find_deadlines(text, TUESDAY)
    assert found and not found[0].marked
    assert pick_deadline(found) is None
    assert pick_deadline(found, asked={found[0].sentence}) is not None


def test_horizon_is_counted_in_the_senders_calendar() -> None:
    sent = datetime.fromisoformat("2025-12-02T23:30:00-05:00")
    assert horizon_days(sent + timedelta(hours=2), sent) == 1
    assert horizon_days(sent + timedelta(minutes=20), sent) == 0


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("Commande de 15M FCFA", "15000000", "XOF"),
        ("un montant de 2 450 000 FCFA TTC", "2450000", "XOF"),
        ("environ 3,5 millions de FCFA", "3500000", "XOF"),
        ("Montant : 12 500,00 €", "12500", "EUR"),
        ("le pilote (€4,800)", "4800", "EUR"),
        ("the pilot ($4,800)", "4800", "USD"),
        ("1.200 EUR HT", "1200", "EUR"),
        ("USD 189.00", "189", "USD"),
        ("Amount: $3,250.00", "3250", "USD"),
        ("348,60 € TTC", "348.60", "EUR"),
        ("120 000 francs CFA", "120000", "XOF"),
        ("8 000 $ CA", "8000", "CAD"),
    ],
)
def test_amounts(text: str, value: str, currency: str) -> None:
    amounts = find_amounts(text)
    assert amounts, text
    assert (amounts[0].value, amounts[0].currency) == (Decimal(value), currency)
    assert amounts[0].text in text


def test_amounts_keep_order_and_skip_repeats() -> None:
    amounts = find_amounts("Total 29,00 € dont TVA 0,00 €. Total payé : 29,00 €.")
    assert [a.text for a in amounts] == ["29,00 €", "0,00 €"]


def test_parse_number_separators() -> None:
    assert parse_number("2 450 000") == Decimal("2450000")
    assert parse_number("3,5") == Decimal("3.5")
    assert parse_number("1.234,56") == Decimal("1234.56")
    assert parse_number("1,234.56") == Decimal("1234.56")
    assert parse_number("0,010") == Decimal("0.010")


@pytest.mark.parametrize(
    ("domain", "known", "expected"),
    [
        ("cmp-banque-securite.test", "cmp-banque.test", True),  # extra word
        ("nuagehost-verification.test", "nuagehost.test", True),
        ("atelierkouassi.test", "atelier-kouassi.test", True),  # hyphen dropped
        ("banque-h0rizon.test", "banque-horizon.test", True),  # homoglyph
        ("banque-horizom.test", "banque-horizon.test", True),  # one letter off
        ("cloudouest.com", "cloudouest.test", True),  # other TLD
        ("mail.cloudouest.test", "cloudouest.test", False),  # a subdomain is the same organisation
        ("sahel-transport.test", "sgt-transit.test", False),
        ("gmail.test", "mbaye-conseil.test", False),
        ("mbaye-conseil.test.secure-mail.test", "mbaye-conseil.test", True),  # known domain as a prefix
        ("sgt-transit.test.invoice-portal.test", "sgt-transit.test", True),
    ],
)
def test_lookalike_domains(domain: str, known: str, expected: bool) -> None:
    assert lookalike_of(domain, known) is expected


def test_registrable_domain() -> None:
    assert registrable_domain("mail.notify.signeo.test") == "signeo.test"
    assert registrable_domain("www.impots.gouv.ci") == "impots.gouv.ci"


def test_sender_relationship_and_spoofing_signs() -> None:
    real = analyze_sender(message("Awa <awa@sgt-transit.test>", "x", "y"), CONTEXT)
    assert real.relation is Relation.CLIENT and real.trusted and not real.flags
    fake = analyze_sender(
        message(
            "Banque du Fleuve <alerte@banquedufleuve-securite.test>",
            "x",
            "y",
            Reply_To="support@other-help.test",
        ),
        CONTEXT,
    )
    assert not fake.trusted
    assert {LOOKALIKE, DISPLAY_MISMATCH, REPLY_TO_ELSEWHERE} <= set(fake.flags)
    boss = analyze_sender(message("Khady Mbaye <khady.mbaye.dg@gmail.test>", "x", "y"), CONTEXT)
    assert MANAGER_IMPERSONATION in boss.flags
    platform = analyze_sender(
        message("Awa via DocuSign <dse@docusign.test>", "x", "y", Reply_To="awa@sgt-transit.test"), CONTEXT
    )
    assert platform.via_platform and platform.relation is Relation.CLIENT and not platform.flags
    courier = analyze_sender(message("DHL Express <noreply@dhl-suivi-colis.test>", "x", "y"), CONTEXT)
    assert LOOKALIKE in courier.flags


def test_correspondents_and_vips_are_relations() -> None:
    context = TriageContext(correspondents=frozenset({"p@partner.test"}), vips=("vip.test",))
    assert analyze_sender(message("P <p@partner.test>", "x", "y"), context).relation is Relation.CORRESPONDENT
    assert analyze_sender(message("V <v@vip.test>", "x", "y"), context).relation is Relation.VIP


def test_thread_strips_french_quote_and_signature() -> None:
    body = (
        "Bonjour Awa,\n\nIl me faut les CV aujourd'hui avant 18h.\n\nMerci infiniment,\nAstou\n\nAstou Mbaye\nResponsable qualité\n\n"
        "Le 26/11/2025 à 16:05, Awa Kouassi a écrit :\n> Bonjour Astou,\n> début janvier vous irait ?\n"
    )
    thread = split_thread(body)
    assert thread.newest == "Bonjour Awa,\n\nIl me faut les CV aujourd'hui avant 18h."
    assert thread.signature.startswith("Merci infiniment,")
    assert "début janvier" in thread.quoted and not thread.forwarded
    assert thread.quoted_authors == ("awa kouassi",)


def test_thread_strips_english_quote_outlook_header_and_mobile_signature() -> None:
    body = (
        "Hi,\n\nAll fixed now, nothing to do.\n\nSent from my iPhone\n\n"
        "On Wed, Dec 3, 2025 at 4:02 PM Awa Kouassi <awa@x.test> wrote:\n> URGENT: the site is down\n"
    )
    thread = split_thread(body)
    assert thread.newest == "Hi,\n\nAll fixed now, nothing to do."
    assert "site is down" in thread.quoted
    outlook = split_thread(
        "Noted.\n\nDe : Khady Sarr <k@s.test>\nEnvoyé : mardi 2 décembre 2025 07:12\nÀ : Awa\nObjet : URGENT\n\nURGENT : tout est bloqué."
    )
    assert outlook.newest == "Noted."
    original = split_thread("Thanks.\n\n-----Original Message-----\nFrom: a@b.test\nPlease pay today.")
    assert original.newest == "Thanks."


def test_thread_detects_forwards() -> None:
    thread = split_thread("Pour info.\n\n---------- Forwarded message ---------\nFrom: x@y.test\n\nBonjour")
    assert thread.forwarded and thread.newest == "Pour info."
    french = split_thread("Je te transfère.\n\n-------- Message transféré --------\nDe : a@b.test\n\nTexte")
    assert french.forwarded


def test_bulk_detection_from_headers_and_subjects() -> None:
    newsletter = message(
        "Lettre <news@outil.test>",
        "Nouveautés",
        "Bonjour",
        List_Unsubscribe="<mailto:u@outil.test>",
        Precedence="bulk",
    )
    assert analyze_bulk(newsletter, fold(newsletter.subject), fold(newsletter.text)).bulk
    auto = message("A <a@sgt-transit.test>", "Réponse automatique : Re: devis", "Je suis absente.")
    assert analyze_bulk(auto, fold(auto.subject), fold(auto.text)).auto_reply
    english_auto = message(
        "A <a@x.test>", "Out of Office: meeting", "I am out of the office.", Auto_Submitted="auto-replied"
    )
    assert analyze_bulk(english_auto, fold(english_auto.subject), fold(english_auto.text)).auto_reply
    accepted = message("A <a@x.test>", "Accepted: Weekly sync", "Awa has accepted this invitation.")
    assert analyze_bulk(accepted, fold(accepted.subject), fold(accepted.text)).calendar_reply
    person = message("A <a@x.test>", "Question", "Bonjour, une question.")
    profile = analyze_bulk(person, fold(person.subject), fold(person.text))
    assert not (profile.bulk or profile.automated or profile.auto_reply)
    noreply = message("Shop <no-reply@shop.test>", "Order shipped", "Your order has been shipped.")
    assert analyze_bulk(noreply, fold(noreply.subject), fold(noreply.text)).automated


def test_feedback_moves_one_level_per_sender_vote_and_half_per_domain_vote() -> None:
    def context(sender: int = 0, domain: int = 0) -> TriageContext:
        return TriageContext(sender_feedback={"a@x.test": sender}, domain_feedback={"x.test": domain})

    assert apply_feedback(Priority.INFORMATIVE, "a@x.test", context(sender=1)) == (
        Priority.IMPORTANT,
        "sender feedback",
    )
    assert apply_feedback(Priority.INFORMATIVE, "a@x.test", context(sender=5))[0] is Priority.CRITICAL
    assert apply_feedback(Priority.CRITICAL, "a@x.test", context(sender=-1))[0] is Priority.IMPORTANT
    assert apply_feedback(Priority.IMPORTANT, "a@x.test", context(domain=-1)) == (Priority.IMPORTANT, None)
    assert apply_feedback(Priority.IMPORTANT, "a@x.test", context(domain=-2)) == (
        Priority.INFORMATIVE,
        "domain feedback",
    )
    assert (
        apply_feedback(Priority.SPAM, "a@x.test", context(sender=3), phishing=True)[0] is Priority.IMPORTANT
    )
    assert apply_feedback(Priority.SPAM, "a@x.test", context())[1] is None


def _cues(subject: str, body: str) -> Cues:
    return read_cues(fold(subject), fold(body), "")


@pytest.mark.parametrize(
    ("signal", "subject", "body"),
    [
        ("outage", "Site KO", "Nos clients ne peuvent plus passer commande depuis ce matin."),
        (
            "outage",
            "Caisses",
            "Aucune boutique ne peut encaisser, le logiciel affiche synchronisation impossible.",
        ),
        ("outage", "Plateforme", "La plateforme refuse toutes les connexions depuis 8h."),
        ("outage", "Checkout", "Our customers cannot pay since this morning."),
        ("tender", "Consultation AO-12", "Date limite de remise des offres : 9 janvier à 12h."),
        ("tender", "Invitation to bid KM-14", "Late bids will not be considered."),
        (
            "credentials",
            "Dossier",
            "Téléchargez-le en vous identifiant avec le mot de passe de votre messagerie.",
        ),
        ("credentials", "Document", "Please sign in with your email password to access the document."),
        ("formal_notice", "Avis de passage", "Un contrôle sur place est programmé le 16 décembre à 10h."),
        ("tender", "Marché de numérisation", "Le dépôt des plis est fixé à aujourd'hui 11h."),
        (
            "fees_to_release",
            "Shipment",
            "Your shipment is held at customs. Duties of 38,500 XOF must be paid today.",
        ),
        ("fees_to_release", "Colis", "Votre colis est retenu en douane, frais de dédouanement à régler."),
        ("credentials", "Shipment", "Reply with your card details to release it."),
        ("credentials", "Colis", "Répondez en indiquant votre numéro de carte pour le libérer."),
        ("pay_link", "Notice", "Pay the settlement fee of USD 1,200 here: https://claims.test/settle"),
        ("pay_link", "Avis", "Réglez l'amende de 45 000 FCFA ici : https://amendes.test/payer"),
        ("our_system", "Pointage", "Le système de pointage que vous nous avez installé ne fonctionne plus."),
        ("our_system", "Dashboard", "The reporting dashboard you delivered last month is down."),
        ("credentials", "Account limited", "Log in to restore access: https://x.test/restore"),
        ("credentials", "Compte bloqué", "Connectez-vous pour le débloquer : https://x.test/debloquer"),
        ("lure", "Account", "Your account has been limited after unusual activity."),
        ("lure", "Compte", "Votre compte a été limité suite à une activité inhabituelle."),
        ("pay_link", "Amende", "Payez avant ce soir pour éviter une majoration : https://amendes.test"),
        ("churn", "Dernier avertissement", "Sinon nous mettrons fin à notre contrat."),
        ("churn", "Last warning", "Otherwise we will not renew the contract."),
        ("consequence", "Données", "Si ce n'est pas corrigé d'ici ce soir, nous arrêtons."),
        ("consequence", "Data", "If we don't receive it by tonight, the launch moves to the next quarter."),
        ("price_change", "Tarifs 2026", "Nos tarifs augmenteront de 8 % au 1er janvier."),
        ("price_change", "Pricing", "Our prices are going up by 5% in February."),
        ("application", "Data Engineer", "I saw your opening and would love to apply."),
        ("application", "Poste", "Je souhaiterais postuler au poste de développeur."),
        ("solicitation", "Annuaire", "La validation vaut souscription d'un abonnement annuel."),
        ("solicitation", "Directory", "Returning the signed form constitutes an order."),
        ("consequence", "Serveur", "Il sera isolé du réseau à 11h si rien n'est fait."),
        ("consequence", "Server", "It will be suspended at 11:00 unless action is taken."),
        ("no_action", "Réservation", "Le changement est confirmé. Aucun supplément à régler."),
        ("no_action", "Booking", "Your change is confirmed, nothing to pay."),
        ("no_action", "Colis", "Votre colis arrive demain, aucune signature requise."),
        ("no_action", "Parcel", "Out for delivery today. No signature required."),
    ],
)
def test_content_signals_in_both_languages(signal: str, subject: str, body: str) -> None:
    assert getattr(_cues(subject, body), signal)


@pytest.mark.parametrize(
    ("signal", "subject", "body"),
    [
        (
            "secret_transfer",
            "Demande",
            "Opération urgente et confidentielle. Je ne peux pas être joint par téléphone.",
        ),
        ("secret_transfer", "Request", "This is a confidential transfer, I can't take calls today."),
        (
            "investment",
            "Emploi",
            "Gagnez jusqu'à 500 000 FCFA par mois depuis chez vous, sans expérience requise.",
        ),
        ("investment", "Job", "Earn up to $3,000 a month working from home, no experience needed."),
        (
            "promotions",
            "Webinaire",
            "Il ne reste que 12 places pour notre masterclass gratuite, réservez votre place.",
        ),
        ("promotions", "Webinar", "Only 12 seats left for our free webinar: save your seat."),
        ("investment", "Club", "Nos membres ont multiplié par 10 leur capital en bitcoin."),
        ("investment", "Club", "Our members multiplied by 10 their capital with bitcoin."),
        (
            "cold_outreach",
            "Site",
            "En visitant votre site, j'ai remarqué un souci. Notre agence vous propose une refonte.",
        ),
        (
            "cold_outreach",
            "Formations",
            "Saviez-vous que vos salariés peuvent être formés ? Bénéficiez de cette offre.",
        ),
        ("cold_outreach", "Relance", "Notre offre de génération de leads : je me permets de vous contacter."),
        (
            "cold_outreach",
            "Follow-up",
            "Our lead generation team helps agencies; would you be open to a call?",
        ),
    ],
)
def test_scam_and_marketing_counts_in_both_languages(signal: str, subject: str, body: str) -> None:
    assert getattr(_cues(subject, body), signal) >= 2


def test_untraceable_payment_to_a_full_phone_number() -> None:
    assert _cues(
        "Frais", "Réglez les frais par Mobile Money au +225 07 00 00 00 00 avant ce soir."
    ).untraceable_payment


def test_colleague_sharing_a_surname_with_a_party_is_not_a_display_mismatch() -> None:
    context = TriageContext(
        organization_domains=("mbaye-conseil.test",),
        suppliers=(Party("Cabinet Traoré", "cabinet-traore.test", "accountant"),),
    )
    colleague = analyze_sender(message("Awa Traoré <a.traore@mbaye-conseil.test>", "x", "y"), context)
    assert colleague.relation is Relation.INTERNAL and not colleague.flags
    stranger = analyze_sender(message("Cabinet Traoré <compta@traore-expertise.test>", "x", "y"), context)
    assert DISPLAY_MISMATCH in stranger.flags or LOOKALIKE in stranger.flags


def test_brand_display_name_over_a_homoglyph_domain_is_a_lookalike() -> None:
    profile = analyze_sender(message("PayPal <service@paypa1-resolution.test>", "x", "y"), CONTEXT)
    assert LOOKALIKE in profile.flags


def test_a_date_fixed_for_a_tender_deposit_is_a_deadline() -> None:
    text = (
        "La date limite de dépôt des offres pour la consultation restreinte SL-22 (audit des flux EDI) "
        "est fixée à ce jour, 17h00."
    )
    found = pick_deadline(find_deadlines(text, TUESDAY))
    assert found is not None and found.when.strftime("%Y-%m-%d %H:%M") == "2025-12-02 17:00"
    english = pick_deadline(find_deadlines("Bids close today at 17:00 (deadline).", TUESDAY))
    assert english is not None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("RE: Contrat", True),
        ("Re : relance facture", True),
        ("AW: Angebot", True),
        ("SV: Faktura", True),
        ("RIF: preventivo", True),
        ("Ref: dossier 12", True),
        ("TR: Contrat", False),
        ("Fwd: invoice", False),
        ("Relance : facture impayée", False),
        ("Réunion demain", False),
    ],
)
def test_reply_subjects(subject: str, expected: bool) -> None:
    assert is_reply_subject(subject) is expected


@pytest.mark.parametrize(
    ("text", "no_action"),
    [
        ("J'ai redémarré la tablette et la box, rien à faire.", False),  # in vain
        ("Option A : rester au tarif mensuel (rien à faire) ; option B : nous écrire.", False),
        ("Nous avons bien reçu votre paiement, rien à faire de votre part.", True),
        ("Nous avons tout réglé : rien à faire.", True),
        ("Votre déclaration est déposée. Rien à faire.", True),
    ],
)
def test_rien_a_faire_says_no_action_unless_it_means_in_vain_or_describes_an_option(text: str, no_action: bool) -> None:
    assert read_cues("Objet", fold(text), "").no_action is no_action


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("Veuillez indiquer le numéro de votre carte bancaire et son cryptogramme.", True),
        ("Please enter your card number and expiry date.", True),
        ("Merci de vérifier la date d'expiration de votre contrat d'assurance.", False),
        ("Merci de nous envoyer la copie de votre carte grise.", False),
        ("Numéro de carte : **** 4242. Paiement accepté.", False),  # a receipt asks nothing
        ("Nous ne vous demanderons jamais le numéro de votre carte bancaire.", False),
    ],
)
def test_card_data_asked(text: str, asked: bool) -> None:
    assert read_cues("Objet", fold(text), "").card_data_asked is asked


def test_a_leading_lookbehind_keeps_the_word_gate_and_still_excludes() -> None:
    from integrations.triage.text import compile_terms, word_prefixes

    terms = compile_terms([r"(?<!i will )(?<!we'll )send (?:it|the)\b", r"kindly"])
    assert terms.gate == frozenset({"sen", "kin"})
    asked = "please send the signed copy"
    assert terms.search(asked, word_prefixes(asked)) is not None
    planned = "i will send the signed copy"
    assert terms.search(planned, word_prefixes(planned)) is None
    assert not terms.possible(word_prefixes("nothing to see here"))
