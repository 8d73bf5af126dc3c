"""The tumour board: cases, sessions, decisions and their audit, served as a web page."""
