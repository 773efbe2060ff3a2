"""Rule segments: officers' condition trees, evaluated as events arrive and as windows close."""
