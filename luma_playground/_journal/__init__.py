"""The journal: what was submitted and made, in SQLite, and the names of the files made."""
