"""The documents: charts, report context, templates, HTML and PDF. The analysis never imports
this package."""
