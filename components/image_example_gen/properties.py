"""Where ingestion reports land on an Examples artifact, and its count properties (no TensorFlow import: `retrain history` reads them)."""

REJECTED_DIR = "rejected"  # `<examples uri>/rejected/Split-<name>/`
ACCEPTED_COUNT_PROPERTY = "accepted_count"
REJECTED_COUNT_PROPERTY = "rejected_count"
