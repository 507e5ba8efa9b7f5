//! How a person signed in: the authentication methods of a sign-in (`amr`, RFC 8176 names) and
//! the authentication context class they reach (`acr`, OIDC Core §2), which ID tokens and
//! introspection report and `acr_values` asks for.
//!
//! A sign-in is a set of methods: a password (`pwd`), a one-time code from an authenticator app
//! or a recovery code (`otp`), a passkey (`hwk` when its key cannot leave the authenticator,
//! `swk` when the authenticator may sync it to others). Two or more methods make it
//! multi-factor, and so does a passkey alone: Castellan asks every passkey for user
//! verification (a PIN or biometric on the authenticator), so a passkey is something held and
//! something known or been. `mfa` is then added to the `amr` claim. The classes, weakest first:
//! - [`ACR_PASSWORD`]: one factor;
//! - [`ACR_MFA`]: a second factor besides the password, or a passkey.

/// The class of a sign-in with one factor.
pub const ACR_PASSWORD: &str = "urn:castellan:acr:password";
/// The class of a sign-in with a second factor.
pub const ACR_MFA: &str = "urn:castellan:acr:mfa";
/// Every class this server reaches, weakest first (discovery's `acr_values_supported`).
pub const ACR_VALUES_SUPPORTED: [&str; 2] = [ACR_PASSWORD, ACR_MFA];

/// One authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A password.
    Pwd,
    /// A one-time code: from an authenticator app (RFC 6238) or a recovery code.
    Otp,
    /// A passkey whose key cannot leave its authenticator (not backup-eligible).
    Hwk,
    /// A passkey its authenticator may copy to others (backup-eligible, a synced passkey).
    Swk,
}

impl Method {
    const ALL: [Method; 4] = [Method::Pwd, Method::Otp, Method::Hwk, Method::Swk];

    fn bit(self) -> u8 {
        match self {
            Method::Pwd => 1,
            Method::Otp => 2,
            Method::Hwk => 4,
            Method::Swk => 8,
        }
    }

    /// Its RFC 8176 name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Pwd => "pwd",
            Method::Otp => "otp",
            Method::Hwk => "hwk",
            Method::Swk => "swk",
        }
    }
}

/// The methods of one sign-in. Empty for tokens no person signed in for at this server (a JWT
/// bearer assertion, a token exchange), which then carry neither `acr` nor `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Amr(u8);

impl Amr {
    /// No sign-in at this server.
    pub const NONE: Amr = Amr(0);
    /// A password alone.
    pub const PASSWORD: Amr = Amr(1);

    /// These methods and `method`.
    #[must_use]
    pub fn with(self, method: Method) -> Amr {
        Amr(self.0 | method.bit())
    }

    /// Whether `method` was used.
    pub fn has(self, method: Method) -> bool {
        self.0 & method.bit() != 0
    }

    /// Whether no method was used.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The methods, in a fixed order.
    pub fn methods(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.has(*m))
    }

    /// How it is stored: the method names, space-separated (`""` for none).
    pub fn stored(self) -> String {
        self.methods()
            .map(Method::name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads [`Amr::stored`]; `None` for an unknown name.
    pub fn parse(stored: &str) -> Option<Amr> {
        stored
            .split(' ')
            .filter(|s| !s.is_empty())
            .try_fold(Amr::NONE, |amr, name| {
                let method = Method::ALL.into_iter().find(|m| m.name() == name)?;
                Some(amr.with(method))
            })
    }

    /// Whether a passkey was used.
    pub fn has_passkey(self) -> bool {
        self.has(Method::Hwk) || self.has(Method::Swk)
    }

    /// Whether it is multi-factor: two methods or more, or a passkey (always user-verified).
    pub fn is_multi_factor(self) -> bool {
        self.0.count_ones() >= 2 || self.has_passkey()
    }

    /// The `amr` claim: the method names, and `mfa` when multi-factor; `None` when empty.
    pub fn claim(self) -> Option<Vec<String>> {
        if self.is_empty() {
            return None;
        }
        let mut names: Vec<String> = self.methods().map(|m| m.name().to_owned()).collect();
        if self.is_multi_factor() {
            names.push("mfa".to_owned());
        }
        Some(names)
    }

    /// The `acr` claim: the class it reaches; `None` when empty.
    pub fn acr(self) -> Option<&'static str> {
        if self.is_empty() {
            None
        } else if self.is_multi_factor() {
            Some(ACR_MFA)
        } else {
            Some(ACR_PASSWORD)
        }
    }

    /// Whether it reaches `class` (one of [`ACR_VALUES_SUPPORTED`]; an unknown class is
    /// reached by nothing).
    pub fn reaches(self, class: &str) -> bool {
        match class {
            ACR_PASSWORD => !self.is_empty(),
            ACR_MFA => self.is_multi_factor(),
            _ => false,
        }
    }
}

/// What a policy asks of a person's sign-ins (an organization's, or the deployment's), weakest
/// first: the strongest of those that apply holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum SecondFactorPolicy {
    /// A password alone will do.
    #[default]
    Optional,
    /// A second factor of any kind (an authenticator app, a recovery code, a passkey).
    Any,
    /// A passkey.
    Passkey,
}

impl SecondFactorPolicy {
    /// Whether a sign-in with `amr` meets it.
    pub fn met_by(self, amr: Amr) -> bool {
        match self {
            SecondFactorPolicy::Optional => true,
            SecondFactorPolicy::Any => amr.is_multi_factor(),
            SecondFactorPolicy::Passkey => amr.has_passkey(),
        }
    }
}

/// Whether a sign-in with `amr` meets an authorization request's `acr_values` (space-separated,
/// in order of preference, OIDC Core §3.1.2.1): when it reaches one of the classes this server
/// knows. Values this server does not know are ignored; a request naming none it knows asks
/// nothing.
pub fn meets_acr_values(amr: Amr, acr_values: &str) -> bool {
    let known: Vec<&str> = acr_values
        .split(' ')
        .filter(|v| ACR_VALUES_SUPPORTED.contains(v))
        .collect();
    known.is_empty() || known.iter().any(|class| amr.reaches(class))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_reads_back_and_unknown_names_are_refused() {
        let both = Amr::PASSWORD.with(Method::Otp);
        assert_eq!(both.stored(), "pwd otp");
        assert_eq!(Amr::parse("pwd otp"), Some(both));
        assert_eq!(Amr::parse("otp pwd"), Some(both));
        assert_eq!(Amr::parse("pwd"), Some(Amr::PASSWORD));
        assert_eq!(Amr::parse(""), Some(Amr::NONE));
        assert_eq!(Amr::parse("pwd sms"), None);
    }

    #[test]
    fn claims_name_the_methods_and_the_class() {
        assert_eq!(Amr::PASSWORD.claim(), Some(vec!["pwd".to_owned()]));
        assert_eq!(Amr::PASSWORD.acr(), Some(ACR_PASSWORD));
        let both = Amr::PASSWORD.with(Method::Otp);
        assert_eq!(
            both.claim(),
            Some(vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()])
        );
        assert_eq!(both.acr(), Some(ACR_MFA));
        assert_eq!(Amr::NONE.claim(), None);
        assert_eq!(Amr::NONE.acr(), None);
    }

    #[test]
    fn policies_count_the_sign_ins_they_ask_for() {
        let code = Amr::PASSWORD.with(Method::Otp);
        let passkey = Amr::NONE.with(Method::Swk);
        assert!(SecondFactorPolicy::Optional.met_by(Amr::PASSWORD));
        assert!(!SecondFactorPolicy::Any.met_by(Amr::PASSWORD));
        assert!(SecondFactorPolicy::Any.met_by(code));
        assert!(SecondFactorPolicy::Any.met_by(passkey));
        assert!(!SecondFactorPolicy::Passkey.met_by(code));
        assert!(SecondFactorPolicy::Passkey.met_by(passkey));
        assert!(SecondFactorPolicy::Passkey > SecondFactorPolicy::Any);
    }

    #[test]
    fn a_passkey_alone_is_multi_factor() {
        let passkey = Amr::NONE.with(Method::Hwk);
        assert_eq!(passkey.stored(), "hwk");
        assert_eq!(Amr::parse("hwk"), Some(passkey));
        assert_eq!(
            passkey.claim(),
            Some(vec!["hwk".to_owned(), "mfa".to_owned()])
        );
        assert_eq!(passkey.acr(), Some(ACR_MFA));
        assert!(meets_acr_values(passkey, ACR_MFA));
        let synced = Amr::PASSWORD.with(Method::Swk);
        assert_eq!(
            synced.claim(),
            Some(vec!["pwd".to_owned(), "swk".to_owned(), "mfa".to_owned()])
        );
        assert!(synced.has_passkey());
        assert!(!Amr::PASSWORD.with(Method::Otp).has_passkey());
    }

    #[test]
    fn acr_values_ask_for_a_class_the_sign_in_must_reach() {
        let both = Amr::PASSWORD.with(Method::Otp);
        assert!(!meets_acr_values(Amr::PASSWORD, ACR_MFA));
        assert!(meets_acr_values(both, ACR_MFA));
        // Any one of the classes asked for is enough.
        assert!(meets_acr_values(
            Amr::PASSWORD,
            &format!("{ACR_MFA} {ACR_PASSWORD}")
        ));
        // Unknown values ask nothing; an unknown class next to a known one is ignored.
        assert!(meets_acr_values(Amr::PASSWORD, "urn:other:gold"));
        assert!(!meets_acr_values(
            Amr::PASSWORD,
            &format!("urn:other:gold {ACR_MFA}")
        ));
        assert!(meets_acr_values(Amr::PASSWORD, ""));
    }
}
