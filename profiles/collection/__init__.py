"""Collection: events from services and pages, through the consent gate and minimization into the ledger;
the tracking plan; stitching identifiers into people (merges, splits) and contact identifiers."""
