"""The demo's sample mailbox: a local Maildir with realistic French and English emails, new ones every few minutes.

Written for the demo (not the labeled evaluation set). ``demo_step`` fills ``var/demo-maildir`` with
the first messages and links it to the demo organization; the ``digests:demo-feed`` job delivers the
next sample every ``FEED_MINUTES`` (dated now, so deadlines such as "today 5 pm" stay meaningful),
starting over with fresh Message-IDs when all were delivered.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.services import Services
from storage.mail import CREDENTIALS_PURPOSE, Mailbox
from storage.models import Organization, User

log = logging.getLogger(__name__)

DEMO_MAILDIR = Path("var/demo-maildir")
DEMO_ADDRESS = "contact@atelier-demo.example"
FEED_MINUTES = 3
INITIAL = 22  # messages present at the first sync; the rest arrive one by one

# (sender, subject, body); a few dozen messages, French and English, every priority.
SAMPLES: list[tuple[str, str, str]] = [
    ("Direction Académias <direction@academias.example>", "Contrat de formation 15M FCFA à signer",
     "Bonjour,\n\nVous trouverez ci-joint le contrat de formation de 15M FCFA. Merci de le signer aujourd'hui "
     "avant 17h, sinon nous devrons reporter le lancement.\n\nCordialement,\nMarie Koné"),
    ("Boulangerie Dupont <contact@boulangerie-dupont.example>", "Question sur le devis du site vitrine",
     "Bonjour,\n\nPouvez-vous me dire si le devis inclut l'hébergement la première année ? Une réponse d'ici "
     "vendredi m'arrangerait.\n\nMerci,\nPaul Dupont"),
    ("Newsletter Outils Pro <news@outils-pro-promo.example>", "-40 % sur tous nos logiciels ce week-end !",
     "Profitez de -40 % sur toute la gamme. Offre limitée, cliquez ici : https://outils-pro-promo.example/soldes\n"
     "Se désabonner : https://outils-pro-promo.example/unsubscribe"),
    ("Camille Martin <camille.martin@atelier-demo.example>", "Compte rendu de la réunion d'équipe",
     "Bonjour à tous,\n\nPour info, voici le compte rendu de la réunion de lundi. Rien à faire de votre côté.\n\n"
     "Camille"),
    ("Service client Banque <securite@banque-verif-compte.example>", "Votre compte sera suspendu",
     "Cher client, votre compte sera suspendu sous 24h. Confirmez vos identifiants et votre mot de passe ici : "
     "http://banque-verif-compte.example/login"),
    ("James Carter <james.carter@northwind.example>", "Meeting next week — can we reschedule?",
     "Hi,\n\nI can no longer make Tuesday's meeting. Could we move it to Thursday afternoon? Please let me know "
     "by Monday.\n\nBest,\nJames"),
    ("Cabinet Juridique Koffi <contact@cabinet-koffi.example>", "Mise en demeure — facture impayée n° 2026-118",
     "Madame, Monsieur,\n\nSauf règlement de la facture n° 2026-118 d'un montant de 2 400 000 FCFA sous huit "
     "jours, nous engagerons une procédure judiciaire.\n\nMaître Koffi"),
    ("Académias Comptabilité <compta@academias.example>", "Facture FA-2026-031 à régler",
     "Bonjour,\n\nVoici la facture FA-2026-031 de 850 000 FCFA, à régler avant le 30 novembre.\n\nMerci,\n"
     "Service comptable"),
    ("Sophie Bernard <sophie.bernard@gmail.com>", "Candidature spontanée — développeuse web",
     "Bonjour,\n\nJe me permets de vous adresser ma candidature pour un poste de développeuse web. Vous trouverez "
     "mon CV en pièce jointe.\n\nBien cordialement,\nSophie Bernard"),
    ("Lottery International <winner@mega-lotto-prize.example>", "Congratulations! You won $1,500,000",
     "Dear winner, you have won the international lottery! To release your prize, pay the processing fee of "
     "$250 by Western Union today."),
    ("Ops Monitoring <alerts@hebergeur-cloud.example>", "URGENT: site client en panne depuis 30 minutes",
     "Bonjour,\n\nLe site de la Boulangerie Dupont ne répond plus depuis 30 minutes (erreur 502). Les commandes "
     "en ligne sont bloquées. Merci d'intervenir immédiatement.\n\nL'équipe d'astreinte"),
    ("Emma Wilson <emma@brightside-design.example>", "Quote request for a new website",
     "Hello,\n\nWe are a small design studio looking for a new website with online booking. Could you send us a "
     "quote? Our budget is around 3,000 EUR.\n\nThanks,\nEmma"),
    ("LinkedIn <notifications@linkedin.example>", "Vous avez 3 nouvelles notifications",
     "Découvrez qui a consulté votre profil cette semaine. Gérer vos préférences de notification."),
    ("Paul Dupont <contact@boulangerie-dupont.example>", "Re: Commande de 200 flyers",
     "Bonjour,\n\nC'est bon pour moi, je confirme la commande de 200 flyers. Merci de me confirmer la date de "
     "livraison.\n\nPaul"),
    ("Impots.gouv <ne-pas-repondre@impots-remboursement.example>", "Remboursement en attente : 312,45 €",
     "Vous avez droit à un remboursement de 312,45 €. Pour le recevoir, renseignez votre carte bancaire sur "
     "http://impots-remboursement.example/form"),
    ("Awa Traoré <awa.traore@academias.example>", "Appel ce matin ?",
     "Bonjour,\n\nPouvez-vous m'appeler ce matin avant 11h ? Nous devons valider le planning de la formation "
     "avant la réunion du comité.\n\nAwa"),
    ("Google Workspace <workspace-noreply@google.example>", "Your invoice for November is available",
     "Your Google Workspace invoice for November is available. The amount will be charged automatically to "
     "your card on file. No action is needed."),
    ("Marc Petit <marc.petit@fournisseur-papier.example>", "Hausse de nos tarifs au 1er janvier",
     "Bonjour,\n\nNous vous informons que nos tarifs augmenteront de 4 % au 1er janvier. Le nouveau catalogue est "
     "joint.\n\nCordialement,\nMarc Petit"),
    ("Calendar <calendar-notification@northwind.example>", "Accepted: Project kickoff @ Thu 3pm",
     "James Carter has accepted this invitation."),
    ("Direction Académias <direction@academias.example>", "Documents manquants pour le dossier",
     "Bonjour,\n\nPour finaliser le dossier, merci de nous envoyer l'attestation d'assurance et le Kbis d'ici "
     "mercredi.\n\nMarie Koné"),
    ("Out of office <james.carter@northwind.example>", "Automatic reply: Project update",
     "I am out of the office until Monday with limited access to email. For urgent matters, contact "
     "office@northwind.example."),
    ("Salon Pro Événements <invitation@salon-pro-events.example>", "Invitation : Salon des PME 2026",
     "Découvrez le Salon des PME 2026 ! Réservez votre stand dès maintenant et bénéficiez de -20 %. "
     "https://salon-pro-events.example/reservation — Se désinscrire"),
    # Delivered one by one by the feed job:
    ("Direction Académias <direction@academias.example>", "Avenant au contrat — signature requise aujourd'hui",
     "Bonjour,\n\nL'avenant au contrat (5M FCFA) doit être signé aujourd'hui avant 18h pour que la session de "
     "lundi soit maintenue.\n\nMarie Koné"),
    ("Olivia Brown <olivia@brightside-design.example>", "Follow-up on our quote request",
     "Hi again,\n\nJust following up on our quote request from last week. Could you reply by Friday?\n\nOlivia"),
    ("Livraisons Express <suivi@colis-express-livraison.example>", "Votre colis est bloqué",
     "Votre colis est en attente. Payez 1,99 € de frais de douane pour le débloquer : "
     "http://colis-express-livraison.example/pay"),
    ("Paul Dupont <contact@boulangerie-dupont.example>", "Paiement de l'acompte effectué",
     "Bonjour,\n\nPour information, l'acompte de 30 % a été viré ce matin. Rien à faire de votre côté.\n\nPaul"),
    ("Banque Atlantique <conseiller@banque-atlantique.example>", "Carte professionnelle bloquée",
     "Bonjour,\n\nPar mesure de sécurité, votre carte professionnelle est bloquée. Merci d'appeler votre conseiller "
     "aujourd'hui pour la réactiver.\n\nVotre conseiller"),
    ("James Carter <james.carter@northwind.example>", "Signed contract attached",
     "Hi,\n\nPlease find the signed contract attached. Please countersign and return it by tomorrow noon so we "
     "can start on Monday.\n\nJames"),
    ("Camille Martin <camille.martin@atelier-demo.example>", "Planning des congés de décembre",
     "Bonjour,\n\nPouvez-vous valider le planning des congés de décembre d'ici la fin de la semaine ?\n\nCamille"),
    ("Webinar Growth <hello@growth-webinar.example>", "Last chance: free webinar tomorrow",
     "Join our free webinar on growth hacking tomorrow. Register now: https://growth-webinar.example/register "
     "Unsubscribe here."),
    ("Marie Koné <direction@academias.example>", "Re: Planning de la formation",
     "Merci pour votre retour, le planning nous convient. Pour info, la salle est réservée.\n\nMarie"),
    ("Emma Wilson <emma@brightside-design.example>", "URGENT: deposit payment deadline today",
     "Hello,\n\nOur board approved the project. We need your bank details today before 5pm to pay the 1,000 EUR "
     "deposit, otherwise the budget goes to next quarter.\n\nEmma"),
]


def sample_bytes(index: int, when: datetime, round_: int = 0) -> bytes:
    """One sample as an RFC 5322 message dated ``when``."""
    sender, subject, body = SAMPLES[index % len(SAMPLES)]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"Atelier Démo <{DEMO_ADDRESS}>"
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<demo-{index}-{round_}-{uuid.uuid4().hex[:8]}@courrier.demo>"
    message.set_content(body)
    return bytes(message)


def deliver(folder: Path, index: int, when: datetime, round_: int = 0, sub: str = "new") -> Path:
    """Put one sample in the Maildir (written in tmp/ then renamed, as Maildir requires)."""
    for name in ("tmp", "new", "cur"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    unique = f"{int(when.timestamp())}.demo{index}r{round_}.{uuid.uuid4().hex[:6]}"
    tmp = folder / "tmp" / unique
    tmp.write_bytes(sample_bytes(index, when, round_))
    os.utime(tmp, (when.timestamp(), when.timestamp()))
    target = folder / sub / (unique + (":2," if sub == "cur" else ""))
    tmp.rename(target)
    return target


def _state_file(folder: Path) -> Path:
    return folder / ".feed.json"


def demo_step(services: Services, session: Session, org: Organization, admin: User) -> None:
    """Fill the sample Maildir (once) and link it to the demo organization."""
    folder = DEMO_MAILDIR.resolve()
    exists = session.scalars(select(Mailbox.id).where(Mailbox.org_id == org.id, Mailbox.provider == "maildir")).first()
    if exists is not None or services.secrets is None:
        return
    now = services.clock.now()
    for index in range(INITIAL):
        deliver(folder, index, now - timedelta(hours=INITIAL - index, minutes=7 * index), sub="cur")
    _state_file(folder).write_text(json.dumps({"next": INITIAL, "round": 0}))
    credentials = services.secrets.seal(json.dumps({"path": str(folder)}), CREDENTIALS_PURPOSE)
    session.add(Mailbox(org_id=org.id, provider="maildir", name="Boîte de démonstration", address=DEMO_ADDRESS,
                        credentials=credentials, folders=["INBOX"], cursor={}, is_default=False, status="active",
                        enabled=True, failures=0, initial_sync_done=False, sync_interval_minutes=1,
                        created_by_user_id=admin.id))


def feed(services: Services) -> None:
    """The demo's job: deliver the next sample to the Maildir, dated now."""
    folder = DEMO_MAILDIR.resolve()
    state_path = _state_file(folder)
    if not state_path.exists():
        return
    state = json.loads(state_path.read_text())
    index, round_ = int(state.get("next", 0)), int(state.get("round", 0))
    if index >= len(SAMPLES):
        index, round_ = 0, round_ + 1
    deliver(folder, index, services.clock.now(), round_)
    state_path.write_text(json.dumps({"next": index + 1, "round": round_}))
    log.info("demo mailbox: sample %d delivered", index)
