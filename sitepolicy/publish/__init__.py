"""RPMs -> a signed yum repository (what may go in, signing, metadata, the .repo file), or to Copr/Koji."""
