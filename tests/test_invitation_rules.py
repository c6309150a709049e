"""Password, name and email rules of invitations, their sentences in both languages, chat argument parsing."""

from __future__ import annotations

import pytest

from bot.i18n import Catalog
from bot.settings import REPO_ROOT, Settings
from handlers.invitations import split_message, split_target
from handlers.invitations.rules import (
    CommonPasswords,
    EmailPolicy,
    EmailRejected,
    InvitationSettings,
    PasswordPolicy,
    SettingsInvalid,
    check_invitation_email,
    name_problems,
    normalize_email,
    org_settings,
    parse_settings,
    password_problems,
)

CATALOG = Catalog.load(REPO_ROOT / "templates" / "i18n")
COMMON = CommonPasswords.load(Settings(_env_file=None).common_passwords_file)  # type: ignore[call-arg]
POLICY = PasswordPolicy()


def codes(password: str, confirmation: str | None = None, email: str = "jean.dupont@exemple.fr",
          policy: PasswordPolicy = POLICY) -> list[str]:
    return [p.code for p in password_problems(password, confirmation, email=email, policy=policy, common=COMMON)]


def test_a_strong_password_passes_every_default_rule() -> None:
    assert codes("Vélo-Rouge-2026!", "Vélo-Rouge-2026!") == []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Ab1!", "too_short"),
        ("abcdefgh1!x", "no_upper"),
        ("ABCDEFGH1!X", "no_lower"),
        ("Abcdefghij!", "no_digit"),
        ("Abcdefghij1", "no_special"),
        ("Jean.Dupont#2026", "contains_email"),
        ("x" * 129 + "A1!", "too_long"),
    ],
)
def test_each_rule_is_reported(password: str, expected: str) -> None:
    assert expected in codes(password)


def test_common_passwords_from_the_shipped_list_are_refused_case_insensitively() -> None:
    assert len(COMMON.words) > 19000
    assert "password" in COMMON and "PassWord" in COMMON
    assert "password1!" in COMMON
    # Capitalized, it meets every structural rule: only the list refuses it.
    assert codes("Password1!") == ["common"]
    assert "common" not in codes("Password1!-Zébu")


def test_confirmation_mismatch_is_a_problem_of_the_confirmation_field() -> None:
    problems = password_problems("Vélo-Rouge-2026!", "Velo-Rouge-2026!", email="a@b.fr", policy=POLICY, common=COMMON)
    assert [(p.field, p.code) for p in problems] == [("password_confirm", "mismatch")]


def test_short_local_parts_are_not_searched_in_passwords() -> None:
    assert "contains_email" not in codes("Jo-Rouge-2026!", email="jo@exemple.fr")


def test_the_policy_is_an_organization_setting() -> None:
    lax = PasswordPolicy(min_length=8, upper=False, special=False, not_common=False, not_email=False)
    assert codes("velo2026", email="velo@x.fr", policy=lax) == []
    assert codes("velo2026") != []


def test_rule_sentences_exist_in_both_languages_with_their_parameters() -> None:
    problems = password_problems("abc", "abd", email="a@b.fr", policy=POLICY, common=COMMON)
    fr = [p.text(CATALOG, "fr") for p in problems]
    en = [p.text(CATALOG, "en") for p in problems]
    assert "Le mot de passe doit faire au moins 10 caractères." in fr
    assert "The password must be at least 10 characters long." in en
    assert "Les deux mots de passe ne sont pas identiques." in fr
    assert "The two passwords do not match." in en
    assert fr != en


def test_name_rules() -> None:
    assert [p.code for p in name_problems("  ")] == ["name_required"]
    assert [p.code for p in name_problems("x" * 121)] == ["name_too_long"]
    assert [p.code for p in name_problems("Jean\u200bDupont")] == ["name_invalid"]
    assert name_problems("Awa Kouassi-N'Guessan") == []


def test_email_syntax_and_normalization_without_network() -> None:
    checked = normalize_email("  Jean.Dupont@Exemple.FR ")
    assert checked.address == "jean.dupont@exemple.fr"
    assert (checked.local_part, checked.domain) == ("jean.dupont", "exemple.fr")
    for bad in ("jean", "jean@", "jean@exemple", "jean@@exemple.fr", "a b@exemple.fr", "jean@site.test"):
        with pytest.raises(EmailRejected) as info:
            normalize_email(bad)
        assert info.value.problem.code == "email_invalid"
    with pytest.raises(EmailRejected) as info:
        normalize_email("")
    assert info.value.problem.code == "email_required"


def test_suspicious_local_parts_are_refused_and_the_list_is_configurable() -> None:
    policy = EmailPolicy()
    for address in ("test@exemple.fr", "fake@exemple.fr", "Test+1@exemple.fr", "noreply@exemple.fr"):
        with pytest.raises(EmailRejected) as info:
            check_invitation_email(address, policy)
        assert info.value.problem.code == "email_suspicious"
    assert check_invitation_email("jean@exemple.fr", policy).address == "jean@exemple.fr"
    custom = EmailPolicy(suspicious_local_parts=["bidon"])
    assert check_invitation_email("test@exemple.fr", custom).address == "test@exemple.fr"
    with pytest.raises(EmailRejected):
        check_invitation_email("bidon@exemple.fr", custom)


def test_allowed_domains_are_not_restricted_by_default_and_can_be() -> None:
    assert check_invitation_email("awa@orange.ci", EmailPolicy()).domain == "orange.ci"
    gmail_only = EmailPolicy(allowed_domains=["@Gmail.com"])
    assert gmail_only.allowed_domains == ["gmail.com"]
    assert check_invitation_email("awa@gmail.com", gmail_only).address == "awa@gmail.com"
    with pytest.raises(EmailRejected) as info:
        check_invitation_email("awa@orange.ci", gmail_only)
    problem = info.value.problem
    assert problem.code == "email_domain"
    assert problem.text(CATALOG, "fr") == (
        "Les invitations sont limitées aux adresses gmail.com ; « orange.ci » n'en fait pas partie.")
    assert problem.text(CATALOG, "en") == 'Invitations are limited to gmail.com addresses; "orange.ci" is not one of them.'


def test_email_rule_sentences_in_both_languages() -> None:
    with pytest.raises(EmailRejected) as info:
        check_invitation_email("fake@exemple.fr", EmailPolicy())
    assert "ressemble à une adresse de test" in info.value.problem.text(CATALOG, "fr")
    assert "looks like a test or fake address" in info.value.problem.text(CATALOG, "en")
    with pytest.raises(EmailRejected) as info:
        check_invitation_email("pas-une-adresse", EmailPolicy())
    assert info.value.problem.text(CATALOG, "fr").startswith("« pas-une-adresse » n'est pas une adresse e-mail valide")
    assert info.value.problem.text(CATALOG, "en").startswith('"pas-une-adresse" is not a valid email address')


def test_organization_settings_defaults_validation_and_fallback() -> None:
    defaults = org_settings({})
    assert defaults.ttl_days == 7
    assert defaults.password.min_length == 10
    assert defaults.email.allowed_domains == []
    assert "test" in defaults.email.suspicious_local_parts
    assert org_settings({"invitations": {"ttl_days": 14}}).ttl_days == 14
    assert org_settings({"invitations": {"ttl_days": "nonsense"}}) == InvitationSettings()
    with pytest.raises(SettingsInvalid, match="ttl_days"):
        parse_settings({"ttl_days": 0})
    with pytest.raises(SettingsInvalid, match="min_length"):
        parse_settings({"password": {"min_length": 4}})
    with pytest.raises(SettingsInvalid, match="colour"):
        parse_settings({"colour": "blue"})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('jean@exemple.fr "Ravi de vous compter parmi nous"', ("jean@exemple.fr", "Ravi de vous compter parmi nous")),
        ("jean@exemple.fr « Bienvenue ! »", ("jean@exemple.fr", "Bienvenue !")),
        ("Dupont “Hello there”", ("Dupont", "Hello there")),
        ("jean@exemple.fr", ("jean@exemple.fr", None)),
        ('Jean Dupont jean@exemple.fr "Salut', ("Jean Dupont jean@exemple.fr", "Salut")),
        ("D'Arcy", ("D'Arcy", None)),
    ],
)
def test_split_message(args: str, expected: tuple[str, str | None]) -> None:
    assert split_message(args) == expected


def test_split_target() -> None:
    assert split_target("jean@exemple.fr") == ("jean@exemple.fr", None)
    assert split_target("Jean Dupont <jean@exemple.fr>") == ("jean@exemple.fr", "Jean Dupont")
    assert split_target("Dupont") == (None, "Dupont")
