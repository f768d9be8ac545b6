"""ImageNet-shaped fixtures built from WordNet 3.0 (Debian's wordnet-base) and PIL, and the
WordNet oracle the ImageNet tests check the tool against. It parses data.noun its own way (the
whole file, line by line) and shares no code with the tool.

  imagenet_fixture.py wnids N            -> JSON {wnids, names, fillers}: N classes, sorted, see fixture_wnids
  imagenet_fixture.py reference < {"wnids": [...]}  -> JSON: WordNet paths by the tool's rule (see reference)
  imagenet_fixture.py jpegs SPEC.json    -> writes the JPEGs SPEC lists (see write_jpegs)
  imagenet_fixture.py photos FOLDER      -> scikit-image's photos as FOLDER/val (ImageNet layout), FOLDER/real.json
  imagenet_fixture.py resnet50 NET.onnx  -> a random-weight ResNet-50 and its sidecar
"""
import json
import sys

DATA_NOUN = "/usr/share/wordnet/data.noun"
ENTITY = "n00001740"

# ImageNet (ILSVRC 2012) classes whose wnids and lemmas were checked against data.noun: the
# photos' classes and near siblings of them, so that the fixtures hold near and far mistakes.
NAMED = [
    "n01440764",  # tench
    "n01443537",  # goldfish
    "n02123045",  # tabby
    "n02123159",  # tiger cat
    "n02124075",  # Egyptian cat
    "n03063599",  # coffee mug
    "n07920052",  # espresso
    "n03773504",  # missile
    "n04008634",  # projectile
    "n04266014",  # space shuttle
    "n03785016",  # moped
    "n03791053",  # motor scooter
    "n03792782",  # mountain bike
    "n04485082",  # tripod
    "n03355925",  # flagpole
    "n03127747",  # crash helmet
]

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"

# scikit-image's photos as ImageNet validation images: file, label, the ReaL list (every class
# that fits the photo), and how the JPEG is stored.
PHOTOS = [
    ("chelsea.png", "n02123045", ["n02123045", "n02123159"], "RGB"),  # a tabby cat
    ("coffee.png", "n03063599", ["n03063599", "n07920052"], "CMYK"),  # a cup of coffee
    ("rocket.jpg", "n03773504", ["n03773504", "n04008634"], "RGB"),  # a rocket launch
    ("motorcycle_left.png", "n03785016", ["n03785016"], "RGB"),  # a motorcycle: ImageNet's nearest class
    ("astronaut.png", "n04266014", ["n04266014", "n03355925", "n03127747"], "RGB"),  # shuttle model, flag, helmet
    ("camera.png", "n04485082", ["n04485082"], "L"),  # the cameraman's tripod, in grey
]


def load():
    """Every noun synset: its first lemma, hypernyms (@, @i, as (symbol, wnid) pairs) and whether
    it has hyponyms (~, ~i)."""
    names, hypernyms, has_hyponyms = {}, {}, set()
    with open(DATA_NOUN, encoding="latin-1") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fields = line.split(" | ")[0].split()
            wnid = "n" + fields[0]
            words = int(fields[3], 16)
            names[wnid] = fields[4].replace("_", " ")
            at = 4 + 2 * words
            ups = []
            for k in range(int(fields[at])):
                symbol, target, pos = fields[at + 1 + 4 * k : at + 4 + 4 * k]
                if pos != "n":
                    continue
                if symbol in ("@", "@i"):
                    ups.append((symbol, "n" + target))
                elif symbol in ("~", "~i"):
                    has_hyponyms.add(wnid)
            hypernyms[wnid] = ups
    return names, hypernyms, has_hyponyms


class Tree:
    """The tool's rule, computed its own way: a synset's depth is its LONGEST hypernym distance to
    entity; its parent is the hypernym one step less deep, the smallest wnid among equals."""

    def __init__(self, hypernyms):
        self.hypernyms = hypernyms
        self.depths = {ENTITY: 0}

    def depth(self, wnid):
        stack = [wnid]
        while stack:
            top = stack[-1]
            missing = [up for _, up in self.hypernyms[top] if up not in self.depths]
            if missing:
                stack.extend(missing)
            else:
                stack.pop()
                if top not in self.depths:
                    self.depths[top] = 1 + max(self.depths[up] for _, up in self.hypernyms[top])
        return self.depths[wnid]

    def parents(self, wnid):
        """The hypernyms the rule could take: those one step less deep."""
        return sorted(up for _, up in self.hypernyms[wnid] if self.depth(up) == self.depth(wnid) - 1)

    def path(self, wnid):
        out = [wnid]
        while out[0] != ENTITY:
            out.insert(0, self.parents(out[0])[0])
        return out

    def ancestors(self, wnid):
        """Every synset above wnid, by any hypernym."""
        seen, todo = set(), [wnid]
        while todo:
            for _, up in self.hypernyms[todo.pop()]:
                if up not in seen:
                    seen.add(up)
                    todo.append(up)
        return seen


def fixture_wnids(n):
    """NAMED plus leaf synsets spread evenly over data.noun, none below a NAMED synset."""
    names, hypernyms, has_hyponyms = load()
    tree = Tree(hypernyms)
    named = set(NAMED)
    candidates = []
    for wnid in sorted(names):
        if wnid in named or wnid in has_hyponyms or named.intersection(tree.ancestors(wnid)):
            continue
        candidates.append(wnid)
    need = n - len(NAMED)
    step = len(candidates) / need
    picked = [candidates[int(k * step)] for k in range(need)]
    wnids = sorted(NAMED + picked)
    return {"wnids": wnids, "names": [names[w] for w in wnids], "fillers": picked}


def write_jpegs(spec):
    """spec: {"images": [{"path", "width", "height", "blocks": [[[r,g,b] x cols] x rows], "box": [x0, y0, x1, y1]}],
    "quality"}: each image grey 128 outside box, the box tiled by the blocks' flat colours."""
    from PIL import Image, ImageDraw

    for item in spec["images"]:
        image = Image.new("RGB", (item["width"], item["height"]), (128, 128, 128))
        draw = ImageDraw.Draw(image)
        x0, y0, x1, y1 = item["box"]
        rows = item["blocks"]
        for r, row in enumerate(rows):
            for c, colour in enumerate(row):
                bx0 = x0 + (x1 - x0) * c // len(row)
                bx1 = x0 + (x1 - x0) * (c + 1) // len(row)
                by0 = y0 + (y1 - y0) * r // len(rows)
                by1 = y0 + (y1 - y0) * (r + 1) // len(rows)
                draw.rectangle([bx0, by0, bx1 - 1, by1 - 1], fill=tuple(colour))
        image.save(item["path"], "JPEG", quality=spec.get("quality", 95))


def reference(wnids):
    """What the WordNet tests compare against: each wnid's path as [wnid, name] pairs from entity,
    its number of distinct hypernym paths, the first synset where the rule breaks a tie and the
    first instance-only synset (both with their paths), and whether every synset reaches entity."""
    names, hypernyms, _ = load()
    tree = Tree(hypernyms)

    def ways(wnid, memo={}):
        if wnid not in memo:
            memo[wnid] = 1 if wnid == ENTITY else sum(ways(up) for _, up in hypernyms[wnid])
        return memo[wnid]

    tie = next(w for w in sorted(hypernyms) if w != ENTITY and len(tree.parents(w)) >= 2)
    instance = next(w for w in sorted(hypernyms) if hypernyms[w] and all(sym == "@i" for sym, _ in hypernyms[w]))
    wanted = list(wnids) + [tie, instance]
    return {
        "paths": {w: [[p, names[p]] for p in tree.path(w)] for w in wanted},
        "ways": {w: ways(w) for w in wanted},
        "tie": {"wnid": tie, "tied": [[p, names[p]] for p in tree.parents(tie)]},
        "instance": instance,
        "all_reach_entity": all(tree.depth(w) >= 0 for w in hypernyms),
    }


def write_photos(folder):
    """The PHOTOS in the one-folder-per-wnid layout under folder/val, named in file-name order, and
    their ReaL file (class indices into fixture_wnids(1000)) as folder/real.json."""
    import os
    from PIL import Image

    wnids = fixture_wnids(1000)["wnids"]
    real = []
    for k, (name, label, valid, mode) in enumerate(PHOTOS):
        os.makedirs(os.path.join(folder, "val", label), exist_ok=True)
        image = Image.open(os.path.join(SKIMAGE, name)).convert(mode)
        image.save(os.path.join(folder, "val", label, f"ILSVRC2012_val_{k + 1:08d}.JPEG"), "JPEG", quality=90)
        real.append([wnids.index(w) for w in valid])
    with open(os.path.join(folder, "real.json"), "w") as f:
        json.dump(real, f)


def export_resnet50(path):
    """torchvision's ResNet-50 with seeded random weights (none can be downloaded here), exported
    to ONNX, and its sidecar over fixture_wnids(1000) with torchvision's preprocessing."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    torch.onnx.export(model, torch.randn(1, 3, 224, 224), path, opset_version=17, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    classes = fixture_wnids(1000)
    with open(path + ".json", "w") as f:
        json.dump({
            "name": "resnet50 (random weights)",
            "classes": classes["names"],
            "wnids": classes["wnids"],
            "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            "preprocess": {"resize": 256, "crop": 224, "interpolation": "bilinear"},
        }, f)


def main(argv):
    if argv[0] == "wnids":
        print(json.dumps(fixture_wnids(int(argv[1]))))
    elif argv[0] == "reference":
        print(json.dumps(reference(json.load(sys.stdin)["wnids"])))
    elif argv[0] == "photos":
        write_photos(argv[1])
    elif argv[0] == "resnet50":
        export_resnet50(argv[1])
    elif argv[0] == "jpegs":
        with open(argv[1]) as f:
            write_jpegs(json.load(f))
    else:
        raise SystemExit(f"unknown command {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
