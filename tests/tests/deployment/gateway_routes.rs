//! What the public routes promise, read from `gateway/traefik/routes.yml` and decided the way
//! Traefik decides: of the routers whose rule matches a request, the one of highest priority
//! serves it. A small evaluator of the rule language the file uses (`Path`, `PathPrefix`,
//! `Method`, `HeaderRegexp`, `!`, `&&`, `||`, parentheses) plays the requests through it.
//!
//! - A credential post (`POST /login`, `POST /register`), whatever the client accepts, is won
//!   by a router behind `credentials-rate-limit`: the API's and the shop's forms alike.
//! - Every router sends HSTS and nosniff, and strips the headers only internal callers may set.

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::support::read;

struct Router {
    name: String,
    rule: String,
    priority: i64,
    middlewares: Vec<String>,
}

fn routes() -> Value {
    serde_norway::from_str(&read("gateway/traefik/routes.yml")).expect("routes.yml is YAML")
}

fn routers(routes: &Value) -> Vec<Router> {
    let routers: Vec<Router> = routes["http"]["routers"]
        .as_mapping()
        .expect("http.routers")
        .iter()
        .map(|(name, router)| Router {
            name: name.as_str().unwrap().to_owned(),
            rule: router["rule"].as_str().expect("a rule").to_owned(),
            // Traefik's default priority is the rule's length; the file sets every one.
            priority: router["priority"].as_i64().expect("an explicit priority"),
            middlewares: router["middlewares"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|middleware| middleware.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect();
    assert!(routers.len() >= 5, "every router is seen");
    routers
}

/// A request as the rules see it.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    headers: BTreeMap<&'a str, &'a str>,
}

/// The router that serves `request`, if any; two matching routers of one priority are a
/// file error (Traefik's choice between them is not something to rely on).
fn winner<'a>(routers: &'a [Router], request: &Request) -> Option<&'a Router> {
    let mut matching: Vec<&Router> = routers
        .iter()
        .filter(|router| matches(&router.rule, request))
        .collect();
    matching.sort_by_key(|router| -router.priority);
    if let [first, second, ..] = matching.as_slice() {
        assert_ne!(
            first.priority, second.priority,
            "{} and {} tie for {} {}",
            first.name, second.name, request.method, request.path
        );
    }
    matching.first().copied()
}

fn matches(rule: &str, request: &Request) -> bool {
    let tokens = tokenize(rule);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        request,
    };
    let result = parser.or();
    assert_eq!(parser.at, tokens.len(), "unparsed rest of {rule}");
    result
}

#[derive(Debug, PartialEq)]
enum Token {
    Not,
    And,
    Or,
    Open,
    Close,
    /// A matcher and its backquoted arguments.
    Matcher(String, Vec<String>),
}

fn tokenize(rule: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = rule.trim();
    while !rest.is_empty() {
        let (token, after) = if let Some(after) = rest.strip_prefix("&&") {
            (Token::And, after)
        } else if let Some(after) = rest.strip_prefix("||") {
            (Token::Or, after)
        } else if let Some(after) = rest.strip_prefix('!') {
            (Token::Not, after)
        } else if let Some(after) = rest.strip_prefix('(') {
            (Token::Open, after)
        } else if let Some(after) = rest.strip_prefix(')') {
            (Token::Close, after)
        } else {
            let open = rest
                .find('(')
                .unwrap_or_else(|| panic!("a matcher: {rest}"));
            let close = rest.find(')').unwrap_or_else(|| panic!("closed: {rest}"));
            let arguments = rest[open + 1..close]
                .split(',')
                .map(|argument| argument.trim().trim_matches('`').to_owned())
                .collect();
            (
                Token::Matcher(rest[..open].to_owned(), arguments),
                &rest[close + 1..],
            )
        };
        tokens.push(token);
        rest = after.trim_start();
    }
    tokens
}

/// `or := and ("||" and)*`, `and := unary ("&&" unary)*`, `unary := "!" unary | "(" or ")" |
/// matcher`: `&&` binds tighter than `||`, as in Traefik.
struct Parser<'t, 'r> {
    tokens: &'t [Token],
    at: usize,
    request: &'r Request<'r>,
}

impl Parser<'_, '_> {
    fn or(&mut self) -> bool {
        let mut value = self.and();
        while self.tokens.get(self.at) == Some(&Token::Or) {
            self.at += 1;
            value |= self.and();
        }
        value
    }

    fn and(&mut self) -> bool {
        let mut value = self.unary();
        while self.tokens.get(self.at) == Some(&Token::And) {
            self.at += 1;
            value &= self.unary();
        }
        value
    }

    fn unary(&mut self) -> bool {
        let token = &self.tokens[self.at];
        self.at += 1;
        match token {
            Token::Not => !self.unary(),
            Token::Open => {
                let value = self.or();
                assert_eq!(self.tokens.get(self.at), Some(&Token::Close));
                self.at += 1;
                value
            }
            Token::Matcher(name, arguments) => self.matcher(name, arguments),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn matcher(&self, name: &str, arguments: &[String]) -> bool {
        let request = self.request;
        match (name, arguments) {
            ("Path", [path]) => request.path == path,
            ("PathPrefix", [prefix]) => request.path.starts_with(prefix.as_str()),
            ("Method", [method]) => request.method == method,
            ("HeaderRegexp", [header, pattern]) => {
                let pattern = regex::Regex::new(pattern).expect("a valid regexp");
                request
                    .headers
                    .get(header.as_str())
                    .is_some_and(|value| pattern.is_match(value))
            }
            _ => panic!("a matcher this evaluator does not know: {name}({arguments:?})"),
        }
    }
}

/// What browsers, API clients and scripts send as Accept.
const ACCEPTS: [Option<&str>; 4] = [
    Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    Some("application/json"),
    Some("*/*"),
    None,
];

#[test]
fn the_evaluator_reads_rules_as_traefik_does() {
    let request = Request {
        method: "POST",
        path: "/login",
        headers: BTreeMap::from([("Accept", "text/html")]),
    };
    assert!(matches("Path(`/login`) || Path(`/register`)", &request));
    assert!(!matches("Path(`/register`) && Method(`POST`)", &request));
    // && before ||: true || (false && false).
    assert!(matches(
        "Path(`/login`) || Path(`/x`) && Method(`GET`)",
        &request
    ));
    assert!(!matches(
        "(Path(`/login`) || Path(`/x`)) && Method(`GET`)",
        &request
    ));
    assert!(matches(
        "HeaderRegexp(`Accept`, `text/html`) && !PathPrefix(`/internal`)",
        &request
    ));
    assert!(!matches("HeaderRegexp(`Accept`, `json`)", &request));
}

#[test]
fn every_credential_post_is_won_by_a_rate_limited_router() {
    let routers = routers(&routes());
    // Every path a storefront form posts credentials to is among these (its views' actions).
    let views = read("services/storefront/src/views/account.rs");
    let posted: Vec<&str> = views
        .split("method=\"post\" action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(
        posted,
        ["/login", "/register"],
        "the account forms' actions"
    );
    for path in ["/login", "/register"] {
        for accept in ACCEPTS {
            let request = Request {
                method: "POST",
                path,
                headers: accept.map(|value| ("Accept", value)).into_iter().collect(),
            };
            let router = winner(&routers, &request)
                .unwrap_or_else(|| panic!("POST {path} ({accept:?}) is routed"));
            assert!(
                router
                    .middlewares
                    .contains(&"credentials-rate-limit".to_owned()),
                "POST {path} with Accept {accept:?} goes through {} without the rate limit",
                router.name
            );
        }
    }
    // The forms themselves (GET) still reach the shop for a browser.
    let form = Request {
        method: "GET",
        path: "/login",
        headers: BTreeMap::from([("Accept", ACCEPTS[0].unwrap())]),
    };
    assert_eq!(
        winner(&routers, &form).map(|router| router.name.as_str()),
        Some("storefront-pages")
    );
}

#[test]
fn every_router_sends_the_security_headers_and_strips_internal_headers() {
    let routes = routes();
    for router in routers(&routes) {
        for middleware in ["security-headers", "api-headers"] {
            assert!(
                router.middlewares.contains(&middleware.to_owned()),
                "{} lacks {middleware}: {:?}",
                router.name,
                router.middlewares
            );
        }
    }
    let middlewares = &routes["http"]["middlewares"];
    let security = &middlewares["security-headers"]["headers"];
    assert_eq!(security["stsSeconds"].as_u64(), Some(31_536_000));
    assert_eq!(security["stsIncludeSubdomains"].as_bool(), Some(true));
    assert_eq!(security["contentTypeNosniff"].as_bool(), Some(true));
    // An empty value is how Traefik removes a request header.
    let stripped = &middlewares["api-headers"]["headers"]["customRequestHeaders"];
    for header in ["X-Service-Token", "X-Client-IP"] {
        assert_eq!(stripped[header].as_str(), Some(""), "{header} is stripped");
    }
}
