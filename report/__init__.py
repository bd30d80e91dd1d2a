"""Reports of SE ablation studies: paper-style tables, figures and a PDF from MLflow runs."""
