//! Log-in and registration forms.

use maud::{Markup, html};
use shop_sessions::Visitor;

use crate::views::csrf;

/// The log-in form; `next` is where to go afterwards.
pub fn login(visitor: &Visitor, username: &str, next: &str) -> Markup {
    html! {
        h1 { "Log in" }
        form.account method="post" action="/login" {
            (csrf(visitor))
            input type="hidden" name="next" value=(next);
            div.field {
                label for="username" { "Username" }
                input #username type="text" name="username" value=(username)
                    autocomplete="username" required autofocus;
            }
            div.field {
                label for="password" { "Password" }
                input #password type="password" name="password"
                    autocomplete="current-password" required;
            }
            button type="submit" { "Log in" }
        }
        p { "New here? " a href="/register" { "Create an account" } "." }
    }
}

pub fn register(visitor: &Visitor, username: &str) -> Markup {
    html! {
        h1 { "Create an account" }
        form.account method="post" action="/register" {
            (csrf(visitor))
            div.field {
                label for="username" { "Username" }
                input #username type="text" name="username" value=(username)
                    autocomplete="username" minlength="3" maxlength="50" required autofocus
                    aria-describedby="username-help";
                small #username-help { "3 to 50 letters, digits, dots, dashes or underscores." }
            }
            div.field {
                label for="password" { "Password" }
                input #password type="password" name="password"
                    autocomplete="new-password" minlength="8" required
                    aria-describedby="password-help";
                small #password-help { "At least 8 characters." }
            }
            button type="submit" { "Create account" }
        }
        p { "Already have an account? " a href="/login" { "Log in" } "." }
    }
}
