//! Benchmark text that looks like real tool output and never repeats: 32 kinds of documents
//! (JSON API rows, logs of several shapes, configs, CSV, SQL dumps, shell sessions, chat, stack
//! traces, diffs, HTTP exchanges, …) filled with random names, numbers, ids, addresses, dates and
//! hashes from a seeded generator, with personal data and secrets sprinkled at a realistic rate.
//! The same seed gives the same text. Not a stable interface: it exists for the benchmarks and
//! `cargo run -p airlock-scan --example bench-text`.

/// A small, fast, seeded generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from this seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p` percent.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn hex(&mut self, n: usize) -> String {
        const H: &[u8] = b"0123456789abcdef";
        (0..n)
            .map(|_| char::from(H[self.below(16) as usize]))
            .collect()
    }

    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| char::from(A[self.below(A.len() as u64) as usize]))
            .collect()
    }

    fn word(&mut self) -> String {
        const SYL: &[&str] = &[
            "ka", "lo", "mi", "ren", "sa", "to", "vel", "an", "dor", "ix", "pra", "qu", "sen",
            "tor", "ul", "ve", "wy", "zen", "bel", "cor", "fa", "gri", "hol", "jas", "mon",
        ];
        let n = 1 + self.below(3) as usize;
        (0..n).map(|_| self.pick(SYL)).collect()
    }

    fn name(&mut self) -> (String, String) {
        const FIRST: &[&str] = &[
            "Ada",
            "Grace",
            "Alan",
            "Linus",
            "Margaret",
            "Dennis",
            "Barbara",
            "Ken",
            "Radia",
            "Tim",
            "Frances",
            "John",
            "Katherine",
            "Edsger",
            "Hedy",
            "Claude",
            "Ingrid",
            "Raj",
            "Mei",
            "Olu",
            "Sofia",
            "Mateo",
            "Yuki",
            "Priya",
            "Lars",
            "Fatima",
            "Chen",
            "Amara",
        ];
        const LAST: &[&str] = &[
            "Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov",
            "Thompson", "Perlman", "Lee", "Allen", "Backus", "Johnson", "Dijkstra", "Lamarr",
            "Shannon", "Nakamura", "Okafor", "Garcia", "Sato", "Patel", "Nilsson", "Haddad",
        ];
        (self.pick(FIRST).to_owned(), self.pick(LAST).to_owned())
    }

    fn email(&mut self) -> String {
        let (f, l) = self.name();
        let domain = self.pick(&[
            "example.com",
            "example.org",
            "corp-mail.net",
            "mail.example.io",
            "acme.test",
        ]);
        match self.below(3) {
            0 => format!("{}.{}@{domain}", f.to_lowercase(), l.to_lowercase()),
            1 => format!("{}{}@{domain}", &f[..1].to_lowercase(), l.to_lowercase()),
            _ => format!("{}{}@{domain}", f.to_lowercase(), self.digits(2)),
        }
    }

    fn phone(&mut self) -> String {
        match self.below(4) {
            0 => format!("+1 {}-555-{}", 200 + self.below(700), self.digits(4)),
            1 => format!("+44 20 7946 {}", self.digits(4)),
            2 => format!("+49 30 {} {}", self.digits(3), self.digits(4)),
            _ => format!("+91 98{} {}", self.digits(3), self.digits(5)),
        }
    }

    /// A card number that passes the Luhn check.
    fn card(&mut self) -> String {
        let prefix = self.pick(&["4", "51", "52", "37", "6011"]);
        let len = if prefix == "37" { 15 } else { 16 };
        let mut d: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
        while d.len() < len - 1 {
            d.push(self.below(10) as u32);
        }
        let sum: u32 = d
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &x)| {
                if i % 2 == 0 {
                    let y = x * 2;
                    if y > 9 { y - 9 } else { y }
                } else {
                    x
                }
            })
            .sum();
        d.push((10 - sum % 10) % 10);
        let s: String = d
            .iter()
            .map(|x| char::from_digit(*x, 10).unwrap_or('0'))
            .collect();
        if self.chance(50) {
            s.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            s
        }
    }

    fn ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            10 + self.below(200),
            self.below(256),
            self.below(256),
            1 + self.below(254)
        )
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }

    fn ts(&mut self) -> String {
        format!(
            "2025-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
            1 + self.below(12),
            1 + self.below(28),
            self.below(24),
            self.below(60),
            self.below(60),
            self.digits(3)
        )
    }

    fn secret(&mut self) -> String {
        match self.below(6) {
            0 => format!("ghp_{}", self.alnum(36)),
            1 => format!("sk_live_{}", self.alnum(24)),
            2 => format!("AKIA{}", self.alnum(16).to_uppercase()),
            3 => format!(
                "xoxb-{}-{}-{}",
                self.digits(11),
                self.digits(12),
                self.alnum(24)
            ),
            4 => format!("eyJhbGciOiJIUzI1NiJ9.{}.{}", self.alnum(40), self.alnum(43)),
            _ => format!("npm_{}", self.alnum(36)),
        }
    }

    /// A value for a field: mostly harmless, sometimes personal data or a secret.
    fn value(&mut self) -> String {
        match self.below(100) {
            0..=2 => self.email(),
            3 => self.phone(),
            4 => self.card(),
            5 => self.secret(),
            6..=9 => self.ip(),
            10..=20 => self.uuid(),
            21..=35 => {
                let n = 1 + self.below(9) as usize;
                self.digits(n)
            }
            36..=45 => self.ts(),
            46..=55 => self.hex(40),
            _ => {
                let n = 2 + self.below(6) as usize;
                self.words(n)
            }
        }
    }

    fn words(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

/// One document of the given kind (0..KINDS).
fn document(r: &mut Rng, kind: u64, out: &mut String) {
    use std::fmt::Write;
    let n = 5 + r.below(30);
    match kind {
        // JSON API rows.
        0 => {
            out.push_str("[\n");
            for i in 0..n {
                let (f, l) = r.name();
                let _ = writeln!(
                    out,
                    "  {{\"id\": {}, \"name\": \"{f} {l}\", \"email\": \"{}\", \"status\": \"{}\", \"balance\": {}.{}, \"updated_at\": \"{}\", \"note\": \"{}\"}}{}",
                    r.below(1_000_000),
                    if r.chance(30) {
                        r.email()
                    } else {
                        format!("user{}@example.invalid", r.digits(4))
                    },
                    r.pick(&["active", "pending", "closed", "suspended"]),
                    r.below(100_000),
                    r.digits(2),
                    r.ts(),
                    r.words(6),
                    if i + 1 < n { "," } else { "" }
                );
            }
            out.push_str("]\n");
        }
        // nginx access log.
        1 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "{} - - [{:02}/Mar/2025:{:02}:{:02}:{:02} +0000] \"{} /api/v{}/{}/{} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 ({}) {}\"",
                    r.ip(),
                    1 + r.below(28),
                    r.below(24),
                    r.below(60),
                    r.below(60),
                    r.pick(&["GET", "POST", "PUT", "DELETE"]),
                    1 + r.below(3),
                    r.word(),
                    r.below(100_000),
                    r.pick(&["200", "201", "204", "301", "404", "500"]),
                    r.below(50_000),
                    r.pick(&["X11; Linux x86_64", "Macintosh", "Windows NT 10.0"]),
                    r.word()
                );
            }
        }
        // Structured JSON logs.
        2 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "{{\"ts\":\"{}\",\"level\":\"{}\",\"logger\":\"{}.{}\",\"msg\":\"{}\",\"request_id\":\"{}\",\"duration_ms\":{},\"user\":\"{}\"}}",
                    r.ts(),
                    r.pick(&["INFO", "WARN", "DEBUG", "ERROR"]),
                    r.word(),
                    r.word(),
                    r.words(5),
                    r.uuid(),
                    r.below(5000),
                    r.value()
                );
            }
        }
        // syslog.
        3 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "Mar {:2} {:02}:{:02}:{:02} host-{} {}[{}]: {} from {} port {}",
                    1 + r.below(28),
                    r.below(24),
                    r.below(60),
                    r.below(60),
                    r.below(100),
                    r.pick(&["sshd", "systemd", "cron", "kernel", "dockerd"]),
                    r.below(65_000),
                    r.pick(&[
                        "Accepted publickey for deploy",
                        "Connection closed by",
                        "Started session",
                        "Failed password for invalid user admin"
                    ]),
                    r.ip(),
                    1024 + r.below(60_000)
                );
            }
        }
        // .env file.
        4 => {
            for _ in 0..n {
                let key = r.pick(&[
                    "APP_NAME",
                    "PORT",
                    "LOG_LEVEL",
                    "DB_HOST",
                    "REDIS_URL",
                    "FEATURE_FLAG",
                    "REGION",
                    "WORKERS",
                    "API_KEY",
                    "DB_PASSWORD",
                    "SECRET_KEY",
                ]);
                let v = match key {
                    "API_KEY" | "SECRET_KEY" => r.secret(),
                    "DB_PASSWORD" => r.alnum(14),
                    "DB_HOST" => r.ip(),
                    "REDIS_URL" => format!("redis://{}:6379/{}", r.ip(), r.below(16)),
                    _ => r.word(),
                };
                let _ = writeln!(out, "{key}={v}");
            }
        }
        // YAML config.
        5 => {
            let _ = writeln!(
                out,
                "service:\n  name: {}\n  replicas: {}\n  image: registry.example.com/{}:{}.{}.{}",
                r.word(),
                1 + r.below(9),
                r.word(),
                r.below(5),
                r.below(20),
                r.below(50)
            );
            for _ in 0..n {
                let _ = writeln!(out, "  {}: {}", r.word(), r.value());
            }
        }
        // TOML config.
        6 => {
            for i in 0..n {
                if i % 5 == 0 {
                    let _ = writeln!(out, "\n[{}]", r.word());
                }
                let _ = writeln!(out, "{} = \"{}\"", r.word(), r.value());
            }
        }
        // CSV export.
        7 => {
            out.push_str("id,first_name,last_name,email,phone,city,signup_date,plan\n");
            for _ in 0..n {
                let (f, l) = r.name();
                let _ = writeln!(
                    out,
                    "{},{f},{l},{},{},{},2024-{:02}-{:02},{}",
                    r.below(100_000),
                    if r.chance(40) {
                        r.email()
                    } else {
                        String::new()
                    },
                    if r.chance(20) {
                        r.phone()
                    } else {
                        String::new()
                    },
                    r.word(),
                    1 + r.below(12),
                    1 + r.below(28),
                    r.pick(&["free", "pro", "team", "enterprise"])
                );
            }
        }
        // SQL dump.
        8 => {
            let _ = writeln!(
                out,
                "INSERT INTO `{}` (`id`, `name`, `value`, `created`) VALUES",
                r.word()
            );
            for i in 0..n {
                let _ = writeln!(
                    out,
                    "({}, '{}', '{}', '{}'){}",
                    r.below(1_000_000),
                    r.words(2),
                    r.value(),
                    r.ts(),
                    if i + 1 < n { "," } else { ";" }
                );
            }
        }
        // Shell session.
        9 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "{}@{}:~/{}$ {} {} {}",
                    r.word(),
                    r.word(),
                    r.word(),
                    r.pick(&[
                        "ls -la",
                        "cat",
                        "grep -rn",
                        "git log --oneline -n",
                        "du -sh",
                        "kubectl get pods -n"
                    ]),
                    r.word(),
                    r.below(100)
                );
                let _ = writeln!(out, "{} {} {}", r.hex(7), r.words(4), r.below(10_000));
            }
        }
        // Chat transcript.
        10 => {
            for _ in 0..n {
                let (f, _) = r.name();
                let line = if r.chance(10) {
                    format!("you can reach me at {} or {}", r.email(), r.phone())
                } else {
                    r.words(8)
                };
                let _ = writeln!(out, "[{:02}:{:02}] <{f}> {line}", r.below(24), r.below(60));
            }
        }
        // Python stack trace.
        11 => {
            out.push_str("Traceback (most recent call last):\n");
            for _ in 0..n.min(12) {
                let _ = writeln!(
                    out,
                    "  File \"/srv/app/{}/{}.py\", line {}, in {}\n    {} = {}({})",
                    r.word(),
                    r.word(),
                    r.below(900),
                    r.word(),
                    r.word(),
                    r.word(),
                    r.word()
                );
            }
            let _ = writeln!(out, "KeyError: '{}'", r.word());
        }
        // Java stack trace.
        12 => {
            let _ = writeln!(
                out,
                "java.lang.IllegalStateException: {} {}",
                r.words(3),
                r.uuid()
            );
            for _ in 0..n.min(15) {
                let _ = writeln!(
                    out,
                    "\tat com.{}.{}.{}.{}({}.java:{})",
                    r.word(),
                    r.word(),
                    r.word(),
                    r.word(),
                    r.word(),
                    r.below(900)
                );
            }
        }
        // Git log.
        13 => {
            for _ in 0..n {
                let (f, l) = r.name();
                let _ = writeln!(
                    out,
                    "commit {}\nAuthor: {f} {l} <{}>\nDate:   Mon Mar {} {:02}:{:02}:{:02} 2025 +0100\n\n    {}\n",
                    r.hex(40),
                    r.email(),
                    1 + r.below(28),
                    r.below(24),
                    r.below(60),
                    r.below(60),
                    r.words(7)
                );
            }
        }
        // Unified diff.
        14 => {
            let _ = writeln!(
                out,
                "diff --git a/src/{0}.rs b/src/{0}.rs\nindex {1}..{2} 100644\n--- a/src/{0}.rs\n+++ b/src/{0}.rs",
                r.word(),
                r.hex(7),
                r.hex(7)
            );
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "@@ -{},{} +{},{} @@",
                    r.below(500),
                    r.below(9),
                    r.below(500),
                    r.below(9)
                );
                let _ = writeln!(
                    out,
                    "-    let {} = {};\n+    let {} = {}({});",
                    r.word(),
                    r.below(1000),
                    r.word(),
                    r.word(),
                    r.value()
                );
            }
        }
        // HTTP exchange.
        15 => {
            let _ = writeln!(
                out,
                "POST /v1/{} HTTP/1.1\nHost: api.example.com\nContent-Type: application/json\nX-Request-Id: {}",
                r.word(),
                r.uuid()
            );
            if r.chance(30) {
                let _ = writeln!(out, "Authorization: Bearer {}", r.secret());
            }
            let _ = writeln!(
                out,
                "\n{{\"{}\": \"{}\"}}\n\nHTTP/1.1 {} OK\nDate: Mon, 03 Mar 2025 {:02}:{:02}:{:02} GMT\nContent-Length: {}",
                r.word(),
                r.value(),
                200,
                r.below(24),
                r.below(60),
                r.below(60),
                r.below(9000)
            );
        }
        // Kubernetes manifest.
        16 => {
            let _ = writeln!(
                out,
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\n  labels:\n    app: {}\nspec:\n  replicas: {}\n  template:\n    spec:\n      containers:",
                r.word(),
                r.word(),
                r.below(10)
            );
            for _ in 0..n.min(6) {
                let _ = writeln!(
                    out,
                    "        - name: {}\n          image: {}:{}\n          env:\n            - name: {}\n              value: \"{}\"",
                    r.word(),
                    r.word(),
                    r.hex(12),
                    r.word().to_uppercase(),
                    r.value()
                );
            }
        }
        // `ps` output.
        17 => {
            out.push_str(
                "USER       PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n",
            );
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "{:<10} {:>5} {:>4}.{} {:>4}.{} {:>6} {:>5} ?        Ss   {:02}:{:02}   0:{:02} /usr/bin/{} --{} {}",
                    r.word(),
                    r.below(99_999),
                    r.below(99),
                    r.below(10),
                    r.below(30),
                    r.below(10),
                    r.below(999_999),
                    r.below(99_999),
                    r.below(24),
                    r.below(60),
                    r.below(60),
                    r.word(),
                    r.word(),
                    r.value()
                );
            }
        }
        // `ls -l` output.
        18 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "-rw-r--r--  1 {} {} {:>8} Mar {:2} {:02}:{:02} {}.{}",
                    r.word(),
                    r.word(),
                    r.below(10_000_000),
                    1 + r.below(28),
                    r.below(24),
                    r.below(60),
                    r.word(),
                    r.pick(&["txt", "json", "csv", "log", "pdf", "png"])
                );
            }
        }
        // Markdown document.
        19 => {
            let _ = writeln!(out, "# {}\n\n{}.\n", r.words(3), r.words(20));
            for _ in 0..n.min(8) {
                let _ = writeln!(
                    out,
                    "## {}\n\n- {}\n- {}\n\n{}.\n",
                    r.words(2),
                    r.words(6),
                    r.words(5),
                    r.words(25)
                );
            }
        }
        // HTML fragment.
        20 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "<div class=\"{}\"><a href=\"https://{}.example.com/{}?id={}\">{}</a> <span>{}</span></div>",
                    r.word(),
                    r.word(),
                    r.word(),
                    r.digits(6),
                    r.words(3),
                    r.value()
                );
            }
        }
        // XML.
        21 => {
            out.push_str("<?xml version=\"1.0\"?>\n<records>\n");
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "  <record id=\"{}\"><name>{}</name><contact>{}</contact><amount currency=\"EUR\">{}.{}</amount></record>",
                    r.below(100_000),
                    r.words(2),
                    r.value(),
                    r.below(100_000),
                    r.digits(2)
                );
            }
            out.push_str("</records>\n");
        }
        // Email headers.
        22 => {
            let (f, l) = r.name();
            let _ = writeln!(
                out,
                "From: {f} {l} <{}>\nTo: {}\nDate: Mon, 3 Mar 2025 {:02}:{:02}:{:02} +0000\nMessage-ID: <{}@mail.example.com>\nSubject: {}\n\n{}\n",
                r.email(),
                r.email(),
                r.below(24),
                r.below(60),
                r.below(60),
                r.uuid(),
                r.words(5),
                r.words(30)
            );
        }
        // Prometheus metrics.
        23 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "{}_{}_total{{method=\"{}\",code=\"{}\",instance=\"{}:9100\"}} {}",
                    r.word(),
                    r.word(),
                    r.pick(&["get", "post"]),
                    r.pick(&["200", "500"]),
                    r.ip(),
                    r.below(10_000_000)
                );
            }
        }
        // Terraform.
        24 => {
            for _ in 0..n.min(6) {
                let _ = writeln!(
                    out,
                    "resource \"aws_{}\" \"{}\" {{\n  name   = \"{}\"\n  region = \"{}\"\n  tags   = {{ owner = \"{}\" }}\n  arn    = \"arn:aws:iam::{}:role/{}\"\n}}",
                    r.word(),
                    r.word(),
                    r.word(),
                    r.pick(&["eu-west-1", "us-east-1"]),
                    r.email(),
                    r.digits(12),
                    r.word()
                );
            }
        }
        // package.json.
        25 => {
            let _ = write!(
                out,
                "{{\n  \"name\": \"{}\",\n  \"version\": \"{}.{}.{}\",\n  \"dependencies\": {{\n",
                r.word(),
                r.below(5),
                r.below(30),
                r.below(30)
            );
            for i in 0..n.min(15) {
                let _ = writeln!(
                    out,
                    "    \"{}\": \"^{}.{}.{}\"{}",
                    r.word(),
                    r.below(20),
                    r.below(30),
                    r.below(30),
                    if i + 1 < n.min(15) { "," } else { "" }
                );
            }
            out.push_str("  }\n}\n");
        }
        // Query result table.
        26 => {
            out.push_str("| id | customer | email | total |\n|---:|---|---|---:|\n");
            for _ in 0..n {
                let (f, l) = r.name();
                let _ = writeln!(
                    out,
                    "| {} | {f} {l} | {} | {}.{} |",
                    r.below(100_000),
                    if r.chance(50) {
                        r.email()
                    } else {
                        "—".into()
                    },
                    r.below(10_000),
                    r.digits(2)
                );
            }
        }
        // Python source.
        27 => {
            for _ in 0..n.min(10) {
                let _ = writeln!(
                    out,
                    "def {}({}, {}={}):\n    \"\"\"{}.\"\"\"\n    return {}.{}({}) + {}\n",
                    r.word(),
                    r.word(),
                    r.word(),
                    r.below(100),
                    r.words(6),
                    r.word(),
                    r.word(),
                    r.word(),
                    r.below(1000)
                );
            }
        }
        // Kafka/queue messages.
        28 => {
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "topic={} partition={} offset={} key={} value={{\"event\":\"{}\",\"payload\":\"{}\"}}",
                    r.word(),
                    r.below(12),
                    r.below(10_000_000),
                    r.uuid(),
                    r.word(),
                    r.value()
                );
            }
        }
        // Docker ps.
        29 => {
            out.push_str("CONTAINER ID   IMAGE            COMMAND                  CREATED        STATUS        PORTS                    NAMES\n");
            for _ in 0..n {
                let _ = writeln!(
                    out,
                    "{}   {}:{}   \"/entrypoint {}\"   {} hours ago    Up {} hours   0.0.0.0:{}->{}/tcp   {}_{}",
                    r.hex(12),
                    r.word(),
                    r.below(20),
                    r.word(),
                    r.below(48),
                    r.below(48),
                    1024 + r.below(60_000),
                    r.below(9000),
                    r.word(),
                    r.below(9)
                );
            }
        }
        // INI file.
        30 => {
            for i in 0..n {
                if i % 4 == 0 {
                    let _ = writeln!(out, "[{}]", r.word());
                }
                let _ = writeln!(out, "{}={}", r.word(), r.value());
            }
        }
        // Calendar entries (ICS).
        _ => {
            for _ in 0..n.min(6) {
                let _ = writeln!(
                    out,
                    "BEGIN:VEVENT\nUID:{}\nDTSTART:2025{:02}{:02}T{:02}0000Z\nSUMMARY:{}\nORGANIZER:mailto:{}\nLOCATION:{}\nEND:VEVENT",
                    r.uuid(),
                    1 + r.below(12),
                    1 + r.below(28),
                    r.below(24),
                    r.words(4),
                    r.email(),
                    r.words(2)
                );
            }
        }
    }
}

/// How many kinds of document there are.
pub const KINDS: u64 = 32;

/// About `bytes` of diverse, non-repeating tool output from `seed`.
pub fn diverse(bytes: usize, seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(bytes + 4096);
    while out.len() < bytes {
        let kind = r.below(KINDS);
        document(&mut r, kind, &mut out);
        out.push('\n');
    }
    out
}

/// Text built to make a multi-pattern automaton build as many states as it can: every line
/// starts half of many detectors (digit runs in card, phone and number shapes, `@` with
/// local parts, key prefixes, `key=` assignments, hex and base64 runs) and breaks off at a
/// random point, with random separators, so that few states are ever reused.
pub fn worst_case(bytes: usize, seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(bytes + 256);
    const SEPS: &[&str] = &[" ", "-", ".", "_", "/", ":", "=", "@", "+", "(", ")", ","];
    const PREFIXES: &[&str] = &[
        "AKIA",
        "ghp_",
        "sk_live_",
        "xoxb-",
        "eyJ",
        "npm_",
        "password=",
        "token: ",
        "Bearer ",
        "api_key=",
        "secret=",
        "+1 ",
        "+44 ",
        "4111",
        "5500",
        "3400",
        "mailto:",
        "user@",
        "-----BEGIN ",
        "postgres://",
        "https://",
        "IBAN ",
        "DE89",
        "SSN ",
    ];
    while out.len() < bytes {
        for _ in 0..(1 + r.below(6)) {
            out.push_str(r.pick(PREFIXES));
            let cut = r.below(24) as usize;
            let part = match r.below(5) {
                0 => r.digits(cut),
                1 => r.hex(cut),
                2 => r.alnum(cut),
                3 => r.email().chars().take(cut).collect(),
                _ => r.card().chars().take(cut).collect(),
            };
            out.push_str(&part);
            out.push_str(r.pick(SEPS));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_text_is_diverse_and_the_same_for_the_same_seed() {
        let a = diverse(200_000, 7);
        assert_eq!(a, diverse(200_000, 7));
        assert_ne!(a, diverse(200_000, 8));
        // Nothing repeats: no line of 40 bytes or more stands twice in 200 KB... within reason.
        let lines: Vec<&str> = a.lines().filter(|l| l.len() >= 60).collect();
        let unique: std::collections::HashSet<&str> = lines.iter().copied().collect();
        assert!(
            unique.len() * 100 >= lines.len() * 99,
            "{} of {}",
            unique.len(),
            lines.len()
        );
        assert!(a.len() >= 200_000);
        assert!(worst_case(10_000, 1).len() >= 10_000);
    }
}
