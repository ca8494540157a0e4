"""The study: experiments (what each notebook runs), run identity, profiles, the tables, claims
and their wording, figures, the report, the summary notebook's helpers and the explorer."""
