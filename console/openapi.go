package console

// The admin API's part of the OpenAPI document (/v1/openapi.json); a test
// checks every path here is mounted and answers.

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func jsonResp(desc string, schema obj) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": schema}}}
}

func errs(changes bool) obj {
	e := obj{
		"401": jsonResp("api.admin_token is set and the bearer token is missing or wrong.", ref("Error")),
		"404": jsonResp("Unknown stream, entry or stage.", ref("Error")),
	}
	if changes {
		e["403"] = jsonResp("No api.admin_token is configured and the listener is not loopback-only.", ref("Error"))
		e["400"] = jsonResp("Malformed body or id.", ref("Error"))
	}
	return e
}

func op(summary string, changes bool, ok obj, params ...obj) obj {
	r := errs(changes)
	r["200"] = ok
	o := obj{"summary": summary, "tags": []string{"admin"}, "responses": r, "security": []any{obj{"adminToken": []string{}}}}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if changes {
		o["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref("DLQRequest")}}}
	}
	return o
}

func path(name, desc string) obj {
	return obj{"name": name, "in": "path", "required": true, "description": desc, "schema": obj{"type": "string"}}
}

func query(name, desc string) obj {
	return obj{"name": name, "in": "query", "required": false, "description": desc, "schema": obj{"type": "string"}}
}

// Document adds the admin paths and schemas to an OpenAPI document.
func Document(doc map[string]any) {
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		paths = obj{}
		doc["paths"] = paths
	}
	anyObj := obj{"type": "object"}
	paths["/v1/admin/streams"] = obj{"get": op("Streams, their consumer groups (lag, pending, oldest pending age, consumers) and DLQ lengths.", false,
		jsonResp("The deployment's streams.", obj{"type": "object", "properties": obj{"streams": obj{"type": "array", "items": anyObj}}}))}
	paths["/v1/admin/stages"] = obj{"get": op("Stages this replica runs (running, paused, in flight) and its readiness checks.", false,
		jsonResp("Stage states.", anyObj))}
	paths["/v1/admin/dlq"] = obj{"get": op("Dead-lettered entries, filtered.", false, jsonResp("Entries and each DLQ's total.", anyObj),
		query("stream", "Only this stream's DLQ (posts.parsed …)."), query("stage", "Only entries this stage dead-lettered."),
		query("class", "permanent or exhausted."), query("q", "Substring of the error, post id, trace id or entry id."),
		query("limit", "At most this many entries (1..1000, default 100)."))}
	paths["/v1/admin/dlq/{stream}/{id}"] = obj{"get": op("One DLQ entry: the original event's fields and the error.", false,
		jsonResp("The entry.", ref("DLQEntry")), path("stream", "Original stream."), path("id", "The entry's id in the DLQ."))}
	res := jsonResp("What was done.", obj{"type": "object", "required": []string{"done", "skipped"}, "properties": obj{
		"done": obj{"type": "integer"}, "skipped": obj{"type": "array", "items": obj{"type": "string"}}}})
	paths["/v1/admin/dlq/{stream}/replay"] = obj{"post": op("Put entries back on their stream (a new id; out of the DLQ atomically).", true, res, path("stream", "Original stream."))}
	paths["/v1/admin/dlq/{stream}/purge"] = obj{"post": op("Delete entries from the DLQ.", true, res, path("stream", "Original stream."))}
	pause := jsonResp("The stage's new state.", obj{"type": "object", "properties": obj{"stage": obj{"type": "string"}, "paused": obj{"type": "boolean"}}})
	p := op("Stop reading new entries in this replica (in-flight work finishes).", true, pause, path("stage", "Stage name."))
	delete(p, "requestBody")
	paths["/v1/admin/stages/{stage}/pause"] = obj{"post": p}
	rsm := op("Read again in this replica.", true, pause, path("stage", "Stage name."))
	delete(rsm, "requestBody")
	paths["/v1/admin/stages/{stage}/resume"] = obj{"post": rsm}

	comps, _ := doc["components"].(map[string]any)
	if comps == nil {
		comps = obj{}
		doc["components"] = comps
	}
	schemas, _ := comps["schemas"].(map[string]any)
	if schemas == nil {
		schemas = obj{}
		comps["schemas"] = schemas
	}
	schemas["DLQRequest"] = obj{"type": "object", "description": `Either "ids" or "all": true.`, "properties": obj{
		"ids": obj{"type": "array", "items": obj{"type": "string"}}, "all": obj{"type": "boolean"}}}
	str := obj{"type": "string"}
	schemas["DLQEntry"] = obj{"type": "object", "properties": obj{
		"id": str, "stream": str, "group": str, "entry_id": str, "stage": str, "error": str,
		"error_class": obj{"type": "string", "enum": []string{"permanent", "exhausted"}}, "attempts": obj{"type": "integer"},
		"first_seen_at": str, "failed_at": str, "trace_id": str, "post_id": obj{"type": "string", "description": "The original's post id (from its data field, or the old worker's flat post_id)."},
		"data": obj{"type": "object", "additionalProperties": str}, "data_error": str,
		"data_escaped": obj{"type": "boolean", "description": `A field name or value held bytes that are not UTF-8; data shows each as \xNN. The DLQ keeps the bytes: replay writes them back unchanged.`}}}
	sec, _ := comps["securitySchemes"].(map[string]any)
	if sec == nil {
		sec = obj{}
		comps["securitySchemes"] = sec
	}
	sec["adminToken"] = obj{"type": "http", "scheme": "bearer", "description": "api.admin_token"}
}
