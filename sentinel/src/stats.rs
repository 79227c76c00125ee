//! Placeholder: the `sentinel stats` logic lands with the CLI.
