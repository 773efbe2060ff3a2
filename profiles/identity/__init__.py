"""Identity: subjects, their identifiers (keyed hashes only), merges, and which service linked whom.

Below consent in the layers (docs/ARCHITECTURE.md): consent's rules apply to subjects, so this
package knows nothing of purposes, jurisdictions or the gate. Its models belong to the `profiles`
app (`profiles/models.py` registers them).
"""
