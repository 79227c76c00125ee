//! Placeholder: the `sentinel tail` logic lands with the CLI.
