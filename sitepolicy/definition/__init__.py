"""What a site is: the definition model and its validation, every name it produces, its fingerprints."""
