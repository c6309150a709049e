"""``python -m bot`` runs the ``courrier`` command."""

from bot.cli import main

main()
