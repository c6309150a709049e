"""Word lists, one module per concept, each with its French and English phrasings.

Every entry is a regular-expression fragment matched on folded text (lower case, no accents,
straight apostrophes and dashes), so "Échéance" is written "echeance". Add phrasings here, not in the
signal modules.
"""
