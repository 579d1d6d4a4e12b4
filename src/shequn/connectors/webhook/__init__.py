"""The generic signed webhook: shops and bots post contract events, signed per Standard Webhooks."""
