"""The rasa-sdk action server: dialogue actions that call the intake backend (never the database)."""
