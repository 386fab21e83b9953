"""Renditions: what an upload really is, its text, its PDF rendition, page images and controlled copies.

Pure file-in/file-out functions: no database, no web. The services call them off the event loop.
"""

from docctl.errors import RenditionFailed, UploadRejected
from docctl.renditions.convert import convert_many, convert_to_pdf, soffice_available
from docctl.renditions.detect import inspect_file
from docctl.renditions.images import page_images, pdftoppm_available
from docctl.renditions.model import DOCX_TYPE, PDF_TYPE, Inspection, Limits, StampInfo
from docctl.renditions.pdfread import pdf_page_count
from docctl.renditions.stamp_docx import stamp_docx
from docctl.renditions.stamp_pdf import stamp_pdf

__all__ = [
    "DOCX_TYPE",
    "PDF_TYPE",
    "Inspection",
    "Limits",
    "RenditionFailed",
    "StampInfo",
    "UploadRejected",
    "convert_many",
    "convert_to_pdf",
    "inspect_file",
    "page_images",
    "pdf_page_count",
    "pdftoppm_available",
    "soffice_available",
    "stamp_docx",
    "stamp_pdf",
]
