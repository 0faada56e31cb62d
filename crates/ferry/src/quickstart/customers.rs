//! The quickstart's customers: companies whose every field tells the same story. Most are
//! Chinese — a Chinese company name, a Chinese city with its own province, a landline with the
//! city's area code, a unified social credit code registered in that province, prices in
//! CNY (every tenth in USD). The others are German, Spanish or British — a Latin name with
//! their country's legal form, a city of that country, an international number with its
//! area code, no Chinese credit code, prices in EUR or GBP. A name, a city and a phone
//! number are never drawn from different countries.

use rand::RngExt;
use rand::rngs::StdRng;

/// A city a customer is in, with what follows from it.
#[derive(Debug)]
pub struct Place {
    /// The city as its people write it.
    pub city: &'static str,
    /// Its province (China) or region/state.
    pub region: &'static str,
    /// The phone number's prefix up to the subscriber number, as it is written there:
    /// `021-` (area code, domestic), `+49 30 ` (country and area code).
    pub dial: &'static str,
    /// How many digits the subscriber number has.
    pub digits: u32,
    /// The administrative division code a Chinese credit code carries (`None` abroad).
    pub division: Option<&'static str>,
}

/// A country's customers: how their names are made and where they are.
#[derive(Debug)]
pub struct Country {
    /// ISO 3166 alpha-2.
    pub code: &'static str,
    /// Family names.
    pub surnames: &'static [&'static str],
    /// Given names (Chinese company names often carry the founder's full name).
    pub given: &'static [&'static str],
    /// Lines of business, in the country's language.
    pub trades: &'static [&'static str],
    /// The legal form that ends a company's name.
    pub legal_form: &'static str,
    /// The cities.
    pub places: &'static [Place],
    /// The usual invoicing currency.
    pub currency: &'static str,
}

const fn place(
    city: &'static str,
    region: &'static str,
    dial: &'static str,
    digits: u32,
    division: Option<&'static str>,
) -> Place {
    Place {
        city,
        region,
        dial,
        digits,
        division,
    }
}

pub const CHINA: Country = Country {
    code: "CN",
    surnames: &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"],
    given: &[
        "伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "建华", "晓明",
    ],
    trades: &["科技", "贸易", "制造", "电子", "物流"],
    legal_form: "有限公司",
    places: &[
        place("上海", "上海市", "021-", 8, Some("310000")),
        place("北京", "北京市", "010-", 8, Some("110000")),
        place("深圳", "广东省", "0755-", 8, Some("440300")),
        place("广州", "广东省", "020-", 8, Some("440100")),
        place("杭州", "浙江省", "0571-", 8, Some("330100")),
        place("成都", "四川省", "028-", 8, Some("510100")),
        place("南京", "江苏省", "025-", 8, Some("320100")),
        place("武汉", "湖北省", "027-", 8, Some("420100")),
    ],
    currency: "CNY",
};

pub const ABROAD: [Country; 3] = [
    Country {
        code: "DE",
        surnames: &["Schmidt", "Müller", "Schneider", "Fischer", "Weber"],
        given: &[],
        trades: &["Maschinenbau", "Handel", "Technik", "Logistik"],
        legal_form: "GmbH",
        places: &[
            place("Berlin", "Berlin", "+49 30 ", 8, None),
            place("München", "Bayern", "+49 89 ", 8, None),
            place("Hamburg", "Hamburg", "+49 40 ", 8, None),
        ],
        currency: "EUR",
    },
    Country {
        code: "ES",
        surnames: &["García", "Fernández", "López", "Martínez", "Sánchez"],
        given: &[],
        trades: &["Comercial", "Industrial", "Tecnología", "Logística"],
        legal_form: "S.L.",
        places: &[
            place("Madrid", "Comunidad de Madrid", "+34 91 ", 7, None),
            place("Barcelona", "Cataluña", "+34 93 ", 7, None),
            place("Valencia", "Comunitat Valenciana", "+34 96 ", 7, None),
        ],
        currency: "EUR",
    },
    Country {
        code: "GB",
        surnames: &["Smith", "Jones", "Taylor", "Brown", "Wilson"],
        given: &[],
        trades: &["Trading", "Engineering", "Technology", "Logistics"],
        legal_form: "Ltd.",
        places: &[
            place("London", "England", "+44 20 ", 8, None),
            place("Manchester", "England", "+44 161 ", 7, None),
            place("Edinburgh", "Scotland", "+44 131 ", 7, None),
        ],
        currency: "GBP",
    },
];

/// One customer's generated fields.
#[derive(Debug)]
pub struct Customer {
    pub name: String,
    pub phone: String,
    pub city: &'static str,
    pub province: &'static str,
    pub country: &'static str,
    pub currency: &'static str,
    /// The division for its unified social credit code; `None` for foreign companies.
    pub division: Option<&'static str>,
}

fn pick<T>(rng: &mut StdRng, items: &'static [T]) -> &'static T {
    &items[rng.random_range(0..items.len())]
}

/// Customer `i` (1-based), drawn from `rng`: about 85 in 100 Chinese.
pub fn customer(rng: &mut StdRng, i: u32) -> Customer {
    let country = if rng.random_range(0..100) < 85 {
        &CHINA
    } else {
        &ABROAD[rng.random_range(0..ABROAD.len())]
    };
    let place = pick(rng, country.places);
    let surname = pick(rng, country.surnames);
    let trade = pick(rng, country.trades);
    let name = if country.given.is_empty() {
        format!("{surname} {trade} {}", country.legal_form)
    } else {
        // 上海王伟科技有限公司: city, founder, trade, legal form, with no spaces.
        let given = pick(rng, country.given);
        format!(
            "{}{surname}{given}{trade}{}",
            place.city, country.legal_form
        )
    };
    let low = 2 * 10u64.pow(place.digits - 1);
    let subscriber = rng.random_range(low..10u64.pow(place.digits));
    let currency = if country.code == "CN" && i.is_multiple_of(10) {
        "USD"
    } else {
        country.currency
    };
    Customer {
        name,
        phone: format!("{}{subscriber}", place.dial),
        city: place.city,
        province: place.region,
        country: country.code,
        currency,
        division: place.division,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn han(s: &str) -> bool {
        !s.is_empty() && s.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    fn has_han(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    /// Facts checked independently of the tables: area codes and provinces of some cities.
    const KNOWN: &[(&str, &str, &str)] = &[
        ("上海", "上海市", "021-"),
        ("北京", "北京市", "010-"),
        ("深圳", "广东省", "0755-"),
        ("杭州", "浙江省", "0571-"),
        ("Berlin", "Berlin", "+49 30 "),
        ("Madrid", "Comunidad de Madrid", "+34 91 "),
        ("London", "England", "+44 20 "),
    ];

    #[test]
    fn every_generated_customer_is_of_one_country() {
        let sample: Vec<Customer> = {
            let mut rng = StdRng::seed_from_u64(42);
            (1..=2_000).map(|i| customer(&mut rng, i)).collect()
        };
        let chinese = sample.iter().filter(|c| c.country == "CN").count();
        assert!(
            (1_500..1_900).contains(&chinese),
            "{chinese} of 2000 Chinese"
        );
        for country in ["DE", "ES", "GB"] {
            assert!(sample.iter().any(|c| c.country == country), "no {country}");
        }
        for c in &sample {
            if c.country == "CN" {
                assert!(han(&c.name) && han(c.city), "{c:?}");
                assert!(c.name.starts_with(c.city) && c.name.ends_with("有限公司"));
                assert!(
                    han(c.province) && c.province.ends_with(['省', '市']),
                    "{c:?}"
                );
                let (area, number) = c.phone.split_once('-').unwrap();
                assert!(
                    area.starts_with('0') && (3..=4).contains(&area.len()),
                    "{c:?}"
                );
                assert_eq!(number.len(), 8, "{c:?}");
                assert!(c.division.is_some() && ["CNY", "USD"].contains(&c.currency));
            } else {
                assert!(!has_han(&c.name) && !has_han(c.city), "{c:?}");
                assert!(!has_han(c.province), "{c:?}");
                let (prefix, form, currency) = match c.country {
                    "DE" => ("+49 ", " GmbH", "EUR"),
                    "ES" => ("+34 ", " S.L.", "EUR"),
                    _ => ("+44 ", " Ltd.", "GBP"),
                };
                assert!(c.phone.starts_with(prefix), "{c:?}");
                assert!(c.name.ends_with(form), "{c:?}");
                assert_eq!((c.currency, c.division), (currency, None), "{c:?}");
            }
            if let Some((_, province, dial)) = KNOWN.iter().find(|k| k.0 == c.city) {
                assert_eq!((c.province, &c.phone[..dial.len()]), (*province, *dial));
            }
        }
        // Seeded: the same seed makes the same customers.
        let mut rng = StdRng::seed_from_u64(42);
        let again: Vec<String> = (1..=2_000).map(|i| customer(&mut rng, i).phone).collect();
        assert!(sample.iter().zip(&again).all(|(c, p)| &c.phone == p));
    }
}
