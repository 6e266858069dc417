"""Custom properties VersionedPusher sets on its PushedModel (no TFX import: `retrain history` reads them)."""

PUSH_OUTCOME_KEY = "push_outcome"
