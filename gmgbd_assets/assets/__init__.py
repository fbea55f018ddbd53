"""Software-defined assets, one module per asset or closely related pair."""
