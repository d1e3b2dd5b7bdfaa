"""Storage: the database connection, Peewee models and versioned migrations."""
