"""Structure library: atomic models and maps -> templates, class metadata, multi-ball models."""
