"""TFX's Evaluator with progress lines (examples done, rate, ETA) while TFMA evaluates."""
