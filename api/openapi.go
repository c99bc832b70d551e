package api

// The OpenAPI 3.1 document served at /v1/openapi.json. It is written out by
// hand — it is the contract clients code against — and TestOpenAPIMatches
// keeps it true: every documented route answers, every route is
// documented, and live answers carry exactly the documented fields.

type obj = map[string]any

func str(desc string) obj { return obj{"type": "string", "description": desc} }
func strf(format, desc string) obj {
	return obj{"type": "string", "format": format, "description": desc}
}
func integer(desc string) obj { return obj{"type": "integer", "description": desc} }
func number(desc string) obj  { return obj{"type": "number", "description": desc} }
func array(items obj) obj     { return obj{"type": "array", "items": items} }
func ref(name string) obj     { return obj{"$ref": "#/components/schemas/" + name} }

func object(required []string, props obj) obj {
	return obj{"type": "object", "required": required, "properties": props, "additionalProperties": false}
}

func queryParam(name, desc string, schema obj, required bool) obj {
	return obj{"name": name, "in": "query", "description": desc, "required": required, "schema": schema}
}

func pathParam(name, desc string) obj {
	return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": obj{"type": "string"}}
}

func errorResponses(codes ...string) obj {
	desc := map[string]string{
		"400": "Bad request: a parameter is missing, malformed or over a limit.",
		"401": "Missing or wrong bearer token (api.token or api.tokens is set).",
		"404": "No such post (or it expired).",
		"501": "Semantic search is not configured.",
		"504": "The request took longer than api.request_timeout.",
	}
	out := obj{}
	for _, c := range codes {
		out[c] = obj{"description": desc[c], "content": obj{"application/json": obj{"schema": ref("Error")}}}
	}
	return out
}

func ok(desc, schema string, errs ...string) obj {
	r := errorResponses(errs...)
	r["200"] = obj{"description": desc, "content": obj{"application/json": obj{"schema": ref(schema)}}}
	return r
}

func filterParameters() []any {
	return []any{
		queryParam("channel", "Only these channels (channel_id); repeat or comma-separate.", array(obj{"type": "string"}), false),
		queryParam("tag", "Only posts carrying every one of these tags (case-insensitive, ё = е); repeat or comma-separate.", array(obj{"type": "string"}), false),
		queryParam("tenant", "Only this tenant's posts. A token scoped to a tenant (api.tokens) always reads its own tenant only; naming another gives no results.", obj{"type": "string"}, false),
		queryParam("since", "Posted at or after: a date (2024-11-30) or an RFC 3339 time.", obj{"type": "string"}, false),
		queryParam("until", "Posted at or before: a date (the whole day) or an RFC 3339 time.", obj{"type": "string"}, false),
		queryParam("limit", "Results per page.", obj{"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, false),
		queryParam("offset", "Results to skip.", obj{"type": "integer", "minimum": 0, "maximum": 10000, "default": 0}, false),
		queryParam("cursor", "next_cursor of the previous page (replaces offset).", obj{"type": "string"}, false),
	}
}

// OpenAPI returns the API's OpenAPI document.
func OpenAPI() map[string]any {
	link := object([]string{"url"}, obj{
		"url":       str("A URL of the post."),
		"title":     str("Title of the crawled page, when it was crawled."),
		"final_url": str("Where the crawl ended after redirects."),
	})
	result := object(
		[]string{"post_id", "channel_id", "posted_at", "score", "signals", "snippet", "snippet_html", "highlights", "tags", "urls"},
		obj{
			"post_id":        str("Post id."),
			"channel_id":     str("Channel id."),
			"tenant_id":      str("Tenant, when set."),
			"posted_at":      strf("date-time", "When the post was published."),
			"score":          number("Ordering score: ts_rank_cd (keyword), cosine (semantic) or fused reciprocal rank (hybrid)."),
			"signals":        array(obj{"type": "string", "enum": []string{"keyword", "crawl", "semantic"}}),
			"keyword_rank":   integer("1-based rank in the full-text list (absent: not in it)."),
			"semantic_rank":  integer("1-based rank in the vector list (absent: not in it)."),
			"semantic_score": number("Cosine similarity to the query."),
			"weak":           obj{"type": "boolean", "description": "A weaker match: below the relevance floor (not every query word in the post, similarity under search.min_semantic_score); weak results follow every strong one."},
			"snippet":        str("Plain-text excerpt around the matches."),
			"snippet_html":   str("The excerpt HTML-escaped, matches in <mark>."),
			"highlights":     array(obj{"type": "string", "description": "A matched word as the post spells it."}),
			"tags":           array(obj{"type": "string"}),
			"urls":           array(ref("Link")),
		})
	page := object([]string{"mode", "results", "took_ms"}, obj{
		"query":       str("The query as searched."),
		"mode":        obj{"type": "string", "enum": []string{"hybrid", "semantic", "keyword"}},
		"results":     array(ref("Result")),
		"next_cursor": str("Pass as cursor for the next page; absent on the last page."),
		"took_ms":     number("Time the search took."),
	})
	enrichment := object([]string{"kind", "status", "data", "updated_at"}, obj{
		"kind":       obj{"type": "string", "enum": []string{"tags", "crawl", "vision", "vision_ocr", "classify", "general"}},
		"provider":   str("Who produced it."),
		"status":     obj{"type": "string", "enum": []string{"ok", "partial", "error"}},
		"error":      str("Why it failed, if it did."),
		"data":       obj{"description": "The enrichment document (kind-specific JSON)."},
		"updated_at": strf("date-time", "Last change."),
	})
	post := object([]string{"post_id", "channel_id", "text", "posted_at", "tags", "urls", "enrichments"}, obj{
		"post_id":      str("Post id."),
		"channel_id":   str("Channel id."),
		"tenant_id":    str("Tenant, when set."),
		"text":         str("Post text."),
		"posted_at":    strf("date-time", "When the post was published."),
		"expires_at":   strf("date-time", "When retention removes it."),
		"content_hash": str("SHA-256 of the normalised text."),
		"tags":         array(obj{"type": "string"}),
		"urls":         array(ref("Link")),
		"enrichments":  array(ref("Enrichment")),
	})
	tagCount := object([]string{"tag", "posts"}, obj{
		"tag":   str("A co-occurring tag (its most common spelling)."),
		"posts": integer("Live posts carrying both tags."),
	})
	related := object([]string{"tag", "related"}, obj{
		"tag":     str("The tag asked about."),
		"related": array(ref("TagCount")),
	})
	errBody := object([]string{"error", "message"}, obj{
		"error":   str("Status as a word: bad_request, not_found, …"),
		"message": str("What went wrong, for a human."),
	})
	searchParams := append([]any{
		queryParam("q", "The query: words, \"a phrase\", -excluded, a OR b (websearch syntax).", obj{"type": "string", "maxLength": 2048}, true),
		queryParam("mode", "Ranking.", obj{"type": "string", "enum": []string{"hybrid", "semantic", "keyword"}, "default": "hybrid"}, false),
		queryParam("prefix", "The query is being typed: its last word also matches as a prefix.", obj{"type": "boolean", "default": false}, false),
	}, filterParameters()...)
	return obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "assistant API",
			"version":     "v1",
			"description": "Search over Telegram channel posts: full text (Russian and English stemming), vectors, and their fusion.",
		},
		"components": obj{
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer", "description": "Required when api.token or api.tokens is set. A token of api.tokens scoped to a tenant sees that tenant's posts only; another tenant's post is 404 not_found, like a missing one."}},
			"schemas": obj{
				"Link": link, "Result": result, "SearchPage": page, "Enrichment": enrichment, "Post": post,
				"TagCount": tagCount, "RelatedTags": related, "Error": errBody,
			},
		},
		"security": []any{obj{"bearer": []any{}}},
		"paths": obj{
			"/v1/search": obj{"get": obj{
				"operationId": "search",
				"summary":     "Search posts (hybrid, semantic or keyword).",
				"parameters":  searchParams,
				"responses":   ok("A page of results.", "SearchPage", "400", "401", "501", "504"),
			}},
			"/v1/posts/{id}": obj{"get": obj{
				"operationId": "getPost",
				"summary":     "A post with every enrichment.",
				"parameters":  []any{pathParam("id", "Post id.")},
				"responses":   ok("The post.", "Post", "400", "401", "404", "504"),
			}},
			"/v1/posts/{id}/similar": obj{"get": obj{
				"operationId": "similarPosts",
				"summary":     "Posts similar to a post, by its vector.",
				"parameters":  append([]any{pathParam("id", "Post id.")}, filterParameters()...),
				"responses":   ok("A page of similar posts.", "SearchPage", "400", "401", "404", "501", "504"),
			}},
			"/v1/tags/{tag}/related": obj{"get": obj{
				"operationId": "relatedTags",
				"summary":     "Tags that co-occur with a tag on live posts.",
				"parameters": []any{
					pathParam("tag", "The tag."),
					queryParam("limit", "Most tags returned.", obj{"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, false),
				},
				"responses": ok("Co-occurring tags, most shared posts first.", "RelatedTags", "400", "401", "504"),
			}},
			"/v1/openapi.json": obj{"get": obj{
				"operationId": "openapi",
				"summary":     "This document.",
				"security":    []any{},
				"responses":   obj{"200": obj{"description": "The OpenAPI document.", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}},
			}},
		},
	}
}
