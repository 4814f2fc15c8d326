"""Providers: one module per way of reaching people, all behind `base.Provider` (send one message, or
raise `TransientError` / `PermanentError`). `provider_for` picks a workspace's provider for a channel."""
