"""Privacy requests (GDPR Art. 12-22, CCPA): cases against legal deadlines, and their execution."""
