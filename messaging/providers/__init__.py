"""Providers: one module per way of reaching people, all behind `base.Provider` (send one message, or
raise `TransientError` / `PermanentError`); the HTTP ones (`base.HttpProvider`) also send on delivery's
event loop (`asend`). `provider_for` picks a workspace's provider for a channel."""
