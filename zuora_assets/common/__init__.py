"""What every layer shares and nothing else: failure kinds, the retry helper, AWS error classification."""
