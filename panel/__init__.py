"""The marketing panel's shared layout, login and workspace pages."""
