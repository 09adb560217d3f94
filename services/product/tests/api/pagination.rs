//! Listing: skip/limit, a keyset cursor that holds while rows change, filters, stable order.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::Shop;

async fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// A keyset cursor remembers where the walk is, not how far: rows deleted behind it while the
/// walk goes on neither make it skip rows nor show one twice, as an offset would.
#[tokio::test]
async fn a_cursor_walks_every_row_once_in_order_while_rows_behind_it_are_deleted() {
    const ROWS: i64 = 2_000;
    const PAGE: i64 = 100;
    const DELETED_PER_PAGE: i64 = 30;
    let shop = Shop::start().await;
    let client = test_support::database_client(&shop.products.database.url).await;
    client
        .execute(
            "INSERT INTO products (name, price, quantity) \
             SELECT 'item ' || g, (g % 1000) + 0.99, g % 50 FROM generate_series(1, $1::bigint) g",
            &[&ROWS],
        )
        .await
        .unwrap();

    let mut seen = HashSet::new();
    let mut last = 0;
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/products?limit={PAGE}&cursor={cursor}"),
            None => format!("/products?limit={PAGE}"),
        };
        let page = shop.get_json(&path).await;
        for id in ids(&page).await {
            assert!(id > last, "ascending ids");
            assert!(seen.insert(id), "row {id} shown twice");
            last = id;
        }
        pages += 1;
        assert!(pages <= ROWS / PAGE + 1, "the walk ends");
        // Rows already shown go away between pages; an offset would now skip as many.
        client
            .execute(
                "DELETE FROM products WHERE id IN \
                 (SELECT id FROM products WHERE id <= $1 ORDER BY id LIMIT $2)",
                &[&last, &DELETED_PER_PAGE],
            )
            .await
            .unwrap();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, ROWS, "every row shown once");
    assert_eq!(pages, ROWS / PAGE);

    let remaining: i64 = client
        .query_one("SELECT min(id) FROM products", &[])
        .await
        .unwrap()
        .get(0);
    let page = shop.get_json("/products?skip=10&limit=5").await;
    assert_eq!(
        ids(&page).await,
        (remaining + 10..remaining + 15).collect::<Vec<_>>()
    );
    assert_eq!(page["limit"], 5);
    let default = shop.get_json("/products").await;
    assert_eq!(ids(&default).await.len(), 20);
}

#[tokio::test]
async fn filters_combine_with_the_cursor() {
    let shop = Shop::start().await;
    for (name, price) in [
        ("Red mug", "5.00"),
        ("Blue MUG", "7.50"),
        ("Green mug", "12.00"),
        ("Mug_tree", "7.50"),
        ("Plate", "6.00"),
    ] {
        shop.products
            .create_product(
                &shop.admin,
                &json!({"name": name, "price": price, "quantity": 1}),
            )
            .await;
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mugs = shop.get_json("/products?name=mug").await;
    assert_eq!(
        names(&mugs),
        ["Red mug", "Blue MUG", "Green mug", "Mug_tree"]
    );
    let priced = shop
        .get_json("/products?name=mug&min_price=6&max_price=7.50")
        .await;
    assert_eq!(names(&priced), ["Blue MUG", "Mug_tree"]);
    // "_" is literal: "d_m" would match "Red mug" as a LIKE wildcard.
    assert_eq!(
        names(&shop.get_json("/products?name=d_m").await),
        Vec::<String>::new()
    );

    let first = shop.get_json("/products?name=mug&limit=2").await;
    assert_eq!(names(&first), ["Red mug", "Blue MUG"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = shop
        .get_json(&format!("/products?name=mug&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(names(&second), ["Green mug", "Mug_tree"]);
    assert!(
        second["next_cursor"].is_null()
            || ids(&shop
                .get_json(&format!(
                    "/products?name=mug&limit=2&cursor={}",
                    second["next_cursor"].as_str().unwrap()
                ))
                .await)
            .await
            .is_empty()
    );
}
