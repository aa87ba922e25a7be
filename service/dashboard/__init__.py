"""The dashboard: static pages with Plotly charts over the REST API, served by the API itself."""
