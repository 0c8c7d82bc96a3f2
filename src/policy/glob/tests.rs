use proptest::prelude::*;

use super::*;

#[test]
fn the_table_of_matches() {
    let cases = [
        (
            "registry.example.com/team/*",
            "registry.example.com/team/app",
            true,
        ),
        (
            "registry.example.com/team/*",
            "registry.example.com/team/a/b",
            false,
        ),
        (
            "registry.example.com/team/*",
            "registry.example.com.evil.io/team/app",
            false,
        ),
        (
            "registry.example.com/team/*",
            "evilregistry.example.com/team/app",
            false,
        ),
        (
            "registry.example.com/team/*",
            "registry.example.com/team/",
            true,
        ),
        (
            "registry.example.com/team/*",
            "registry.example.com/teams/app",
            false,
        ),
        (
            "registry.example.com/**",
            "registry.example.com/team/a/b",
            true,
        ),
        (
            "registry.example.com/**",
            "registry.example.com.evil.io/team/app",
            false,
        ),
        ("*.example.com/app", "reg.example.com/app", true),
        ("*.example.com/app", "evil.io/x.example.com/app", false),
        ("**.example.com/app", "evil.io/x.example.com/app", true),
        ("**", "docker.io/library/nginx", true),
        ("**", "", true),
        ("*", "docker.io/library/nginx", false),
        ("*/*/*", "docker.io/library/nginx", true),
        ("*/*", "docker.io/library/nginx", false),
        ("docker.io/library/nginx", "docker.io/library/nginx", true),
        ("docker.io/library/nginx", "docker.io/library/nginx2", false),
        ("docker.io/library/nginx", "xdocker.io/library/nginx", false),
        ("docker.io/*/nginx", "docker.io/library/nginx", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXb/c", false),
        ("a**c", "aX/Y/c", true),
        ("reg/**/app", "reg/app", false),
        ("reg/**/app", "reg/x/app", true),
        ("reg/**app", "reg/app", true),
        ("a?b", "axb", false),
        ("a?b", "a?b", true),
    ];
    for (pattern, name, want) in cases {
        assert_eq!(matches(pattern, name), want, "{pattern} vs {name}");
    }
}

#[test]
fn check_refuses_what_cannot_be_meant() {
    assert!(check("").is_err());
    assert!(check("reg/ app").is_err());
    assert!(check("reg/\tapp").is_err());
    assert!(check("reg/\u{7}app").is_err());
    assert!(check("reg/***").is_err());
    assert!(check(&"a".repeat(PATTERN_MAX + 1)).is_err());
    assert!(check(&"a".repeat(PATTERN_MAX)).is_ok());
    assert!(check("reg/**").is_ok());
    assert!(check("**").is_ok());
}

#[test]
fn most_specific_ordering() {
    let exact = specificity("reg/team/app");
    let star = specificity("reg/team/*");
    let deep = specificity("reg/**");
    let any = specificity("**");
    assert!(exact > star && star > deep && deep > any);
    // A short exact pattern still beats a long one with a wildcard.
    assert!(specificity("r/a") > specificity("registry.example.com/team/*"));
    // Same literals: fewer `**` wins.
    assert!(specificity("reg/*/x") > specificity("reg/**/x"));
    assert_eq!(specificity("reg/*/x"), specificity("reg/x/*"));
}

#[test]
fn pathological_patterns_finish_quickly() {
    let pattern = "*a".repeat(500);
    let name = "a".repeat(254) + "b";
    let started = std::time::Instant::now();
    assert!(!matches(&pattern, &name));
    assert!(!matches(&"**a".repeat(340), &name));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

proptest! {
    /// `*` never crosses `/`: with literal ends fixed, the star covers exactly the middle, so
    /// `prefix*suffix` matches `prefix MIDDLE suffix` exactly when MIDDLE has no `/`.
    #[test]
    fn star_never_crosses_a_slash(
        prefix in "[a-c/]{0,4}",
        middle in "[a-c/.]{0,6}",
        suffix in "[a-c/]{0,4}",
    ) {
        let pattern = format!("{prefix}*{suffix}");
        let name = format!("{prefix}{middle}{suffix}");
        prop_assert_eq!(matches(&pattern, &name), !middle.contains('/'));
    }

    /// `**` matches whatever lies between its literal ends, slashes included.
    #[test]
    fn double_star_crosses_slashes(
        prefix in "[a-c/]{0,4}",
        middle in "[a-c/.]{0,6}",
        suffix in "[a-c/]{0,4}",
    ) {
        let pattern = format!("{prefix}**{suffix}");
        let name = format!("{prefix}{middle}{suffix}");
        prop_assert!(matches(&pattern, &name));
    }

    /// A pattern without wildcards matches only itself.
    #[test]
    fn literal_matches_only_itself(pattern in "[a-c/.]{1,6}", name in "[a-c/.]{0,6}") {
        prop_assert_eq!(matches(&pattern, &name), pattern == name);
    }
}
