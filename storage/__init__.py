"""Models, migrations, repository functions and the secret box."""
