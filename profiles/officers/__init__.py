"""The compliance officers' own pages in the admin: a subject's data (search, view, jurisdiction)."""
