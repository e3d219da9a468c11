"""invoke audit: from AVC denials to reviewed changes of a site definition (issue 16)."""
